import BTF
import ByteParsing
import ELF

/// Everything a BPF ELF object declares, decoded offline: programs, subprograms, maps, global variables,
/// externs, relocations and BTF. Plain values: edit them (a `const volatile` knob, `max_entries`,
/// `autoload`) before handing the spec to the loader.
public struct ObjectSpec: Sendable {
    /// The object's name: the file name up to its first dot (`hello.bpf.o` → `hello`), as libbpf names it.
    public var name: String
    /// The file's byte order; only objects in the host's order can be loaded.
    public var byteOrder: ByteOrder
    /// The `license` section's string (`""` when absent).
    public var license: String
    /// The `version` section's value (old kprobe kernels), 0 when absent.
    public var kernelVersion: UInt32
    /// Entry programs, in section order then symbol offset order.
    public var programs: [ProgramSpec]
    /// Subprograms: the functions of `.text`, and `static` functions of other program sections (as
    /// cilium/ebpf accepts them), called or referenced by entry programs.
    public var subprograms: [FunctionSpec]
    /// Maps: user maps (BTF-defined, then legacy), then the internal global data and `.kconfig` maps.
    public var maps: [MapSpec]
    /// Global variables of the data sections.
    public var variables: [VariableSpec]
    /// Externs to resolve from the running system.
    public var externs: [ExternSpec]
    /// The object's BTF, when it has a `.BTF` section.
    public var btf: TypeGraph?
    /// Notes about what was skipped (unknown data sections, relocations of ignored sections).
    public var notes: [String]
    /// ELF section sizes and symbols the BTF fix-ups of ``fixedUpBTF()`` need, recorded at parse time.
    var btfFixupFacts = BTFFixupFacts()

    /// Reads and decodes the object at `path`.
    public init(contentsOf path: String) throws(ObjectError) {
        let storage: ByteStorage
        do { storage = try ByteStorage(contentsOf: path) } catch {
            throw ObjectError(.elf, error.reason)
        }
        try self.init(bytes: storage.view(order: .little), name: Self.objectName(fromPath: path))
    }

    /// Decodes an object image; `name` is the object name used for internal map names.
    public init(bytes: ByteView, name: String) throws(ObjectError) {
        var parser = try ObjectParser(bytes: bytes, name: name)
        self = try parser.parse()
        btfFixupFacts = BTFFixupFacts(file: parser.file, symbols: parser.symbols, textIndex: parser.textIndex)
    }

    init(name: String, byteOrder: ByteOrder, license: String, kernelVersion: UInt32, programs: [ProgramSpec],
         subprograms: [FunctionSpec], maps: [MapSpec], variables: [VariableSpec], externs: [ExternSpec],
         btf: TypeGraph?, notes: [String]) {
        self.name = name
        self.byteOrder = byteOrder
        self.license = license
        self.kernelVersion = kernelVersion
        self.programs = programs
        self.subprograms = subprograms
        self.maps = maps
        self.variables = variables
        self.externs = externs
        self.btf = btf
        self.notes = notes
    }

    /// libbpf's object name: the base name up to its first dot.
    public static func objectName(fromPath path: String) -> String {
        // By bytes (ASCIIText): '/' and '.' are ASCII, and no array of parts is built.
        let base = path.lastIndex(ofASCII: UInt8(ascii: "/")).map { path.suffix(afterASCII: $0) } ?? path[...]
        return String(base[..<(base.firstIndex(ofASCII: UInt8(ascii: ".")) ?? base.endIndex)])
    }

    /// The program named `name`.
    public func program(named name: String) -> ProgramSpec? { programs.first { $0.name == name } }

    /// The map named `name` (object name; for internal maps the section name such as `.rodata`).
    public func map(named name: String) -> MapSpec? { maps.first { $0.name == name } }

    /// Every function of the object: entry programs' functions, then subprograms.
    public var functions: [FunctionSpec] { programs.map(\.function) + subprograms }
}
