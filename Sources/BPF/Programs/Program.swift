import BPFObject

/// A live, verified BPF program: owns one descriptor, closed (and the program unloaded unless pinned or
/// attached) when the last reference goes away.
///
/// Test runs, info and pinning live in `Program+TestRun.swift` and `Program+Info.swift`.
public final class Program: @unchecked Sendable {
    /// The program's descriptor.
    public let descriptor: OwnedFileDescriptor
    /// The program's name in the object (its symbol name).
    public let name: String
    /// The program's section name (without a leading `?`); empty when opened by id or pin.
    public let sectionName: String
    /// The program type.
    public let type: ProgramType
    /// The expected attach type it was loaded with.
    public let expectedAttachType: AttachType?
    /// The attach target its section names (used by the run command's automatic attachment).
    public let attachTarget: AttachTarget?
    /// The verifier's log, when one was requested or the load needed a retry with a log.
    public let verifierLog: String?
    /// Where the program is pinned, when it was pinned.
    public internal(set) var pinnedPath: String?

    /// Wraps a descriptor with the program's identity.
    public init(descriptor: OwnedFileDescriptor, name: String, sectionName: String, type: ProgramType,
                expectedAttachType: AttachType?, attachTarget: AttachTarget? = nil, verifierLog: String? = nil) {
        self.descriptor = descriptor
        self.name = name
        self.sectionName = sectionName
        self.type = type
        self.expectedAttachType = expectedAttachType
        self.attachTarget = attachTarget
        self.verifierLog = verifierLog
    }
}
