import BTF
import ByteParsing

/// The running kernel's BTF: `/sys/kernel/btf/vmlinux` (mapped, not copied) and each loaded module's split
/// BTF beside it, read once per process and shared by every relocation and load.
public enum KernelBTF {
    /// Where the kernel publishes its BTF.
    public static let directory = "/sys/kernel/btf"

    /// Why the kernel's BTF cannot be used.
    public struct Unavailable: Error, Sendable, CustomStringConvertible {
        /// The file.
        public var path: String
        /// What is wrong.
        public var reason: String
        /// `path: reason`.
        public var description: String { "\(path): \(reason)" }
    }

    private static let vmlinuxResult: Result<TypeGraph, Unavailable> = {
        let path = directory + "/vmlinux"
        do {
            let storage = try ByteStorage(contentsOf: path)
            return .success(try TypeGraph(data: storage.view(order: .little)))
        } catch let error as FileReadError {
            return .failure(Unavailable(path: path, reason: "\(error.reason) (a kernel built without CONFIG_DEBUG_INFO_BTF? pass --btf FILE)"))
        } catch {
            return .failure(Unavailable(path: path, reason: "\(error)"))
        }
    }()

    /// vmlinux's BTF, parsed on first use.
    /// - Throws: ``Unavailable`` when the file is missing or malformed.
    public static func vmlinux() throws(Unavailable) -> TypeGraph { try vmlinuxResult.get() }

    private static let moduleList: [CoreTargetBTF] = {
        guard let base = try? vmlinux() else { return [] }
        var modules: [CoreTargetBTF] = []
        for name in directoryEntries(directory).sorted() where name != "vmlinux" && !name.hasPrefix(".") {
            guard let storage = try? ByteStorage(contentsOf: directory + "/" + name),
                  let graph = try? TypeGraph(splitData: storage.view(order: .little), base: base) else { continue }
            modules.append(CoreTargetBTF(graph, name: name))
        }
        return modules
    }()

    /// Every module's split BTF on vmlinux, by module name; unreadable ones are skipped.
    public static func modules() -> [CoreTargetBTF] { moduleList }

    /// CO-RE targets of the running kernel: vmlinux, then modules when vmlinux lacks a type.
    /// - Throws: ``Unavailable`` when vmlinux's BTF cannot be read.
    public static func coreTargets() throws(Unavailable) -> CoreTargets {
        CoreTargets(primary: CoreTargetBTF(try vmlinux(), name: "vmlinux"), modules: { modules() })
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The names in a directory (without `.` and `..`), or none when it cannot be read.
func directoryEntries(_ path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafePointer(to: entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
