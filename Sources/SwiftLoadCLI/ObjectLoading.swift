import ArgumentParser
import BPFObject

/// Reads an object for a command, turning any failure into swift-load's one-line error and exit 1.
func readObject(_ path: String) throws -> ObjectSpec {
    do {
        return try ObjectSpec(contentsOf: path)
    } catch {
        reportError("\(path): \(error)")
        throw ExitCode.failure
    }
}
