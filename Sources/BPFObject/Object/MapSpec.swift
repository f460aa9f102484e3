/// How a map is pinned in bpffs (the `pinning` attribute of a BTF map).
public enum MapPinning: Sendable, Hashable, CustomStringConvertible {
    /// Not pinned (`LIBBPF_PIN_NONE`).
    case none
    /// Pinned by name under the pin directory (`LIBBPF_PIN_BY_NAME`): an existing compatible map is reused.
    case byName
    /// An iproute2 `bpf_elf_map` pinning value (`PIN_OBJECT_NS` = 1, `PIN_GLOBAL_NS` = 2, or custom).
    case iproute2(UInt32)

    /// `none`, `by_name` or `iproute2:N`.
    public var description: String {
        switch self {
        case .none: "none"
        case .byName: "by_name"
        case .iproute2(let value): "iproute2:\(value)"
        }
    }
}

/// Where a map comes from in the object.
public enum MapOrigin: Sendable, Hashable {
    /// A BTF-defined map: a variable in the `.maps` section.
    case btf
    /// A legacy `struct bpf_map_def` (or iproute2 `bpf_elf_map`) record in the `maps` section; the fields
    /// after `map_flags` are kept raw.
    case legacy(extraFields: [UInt32])
    /// A global data section (`.data*`, `.rodata*`, `.bss*`) turned into a one-entry array.
    case globalData(section: String)
    /// The map holding `__kconfig` externs.
    case kconfig
    /// The inner map template of a map-in-map, described by its outer map's `values` attribute.
    case innerTemplate
}

/// One slot of a map's initial contents, declared statically with `.values = { [i] = &x }`.
public struct MapSlotSpec: Sendable, Hashable {
    /// The array index.
    public var index: UInt32
    /// The referenced symbol: a map name (map-in-map) or a program name (`PROG_ARRAY`).
    public var symbol: String
}

/// A map as the object declares it: plain values, editable before load.
public struct MapSpec: Sendable {
    /// The map's name in the object (the variable name, or the section name for global data).
    public var name: String
    /// The name given to the kernel (15 characters at most; for global data, object prefix + section).
    public var kernelName: String
    /// Map type.
    public var type: MapType
    /// Key size in bytes.
    public var keySize: UInt32
    /// Value size in bytes.
    public var valueSize: UInt32
    /// Maximum number of entries (0 for a perf event array means "one per possible CPU" at load).
    public var maxEntries: UInt32
    /// `map_flags` (`BPF_F_*`).
    public var flags: UInt32
    /// NUMA node, when `BPF_F_NUMA_NODE` is set.
    public var numaNode: UInt32
    /// Pinning mode.
    public var pinning: MapPinning
    /// `map_extra` (e.g. the bloom filter's number of hashes).
    public var mapExtra: UInt64
    /// BTF type id of the key in the object's BTF, 0 when none.
    public var keyTypeID: UInt32
    /// BTF type id of the value in the object's BTF (for global data: the DATASEC), 0 when none.
    public var valueTypeID: UInt32
    /// For map-in-map: the inner map's definition.
    public var innerMap: InnerMap?
    /// Statically initialised slots (`values`), written after programs (or inner maps) exist.
    public var initialSlots: [MapSlotSpec]
    /// Where the definition comes from.
    public var origin: MapOrigin
    /// Initial value image for global data maps (the section bytes; zeros for `.bss`), edited through
    /// ``ObjectSpec/setVariable(_:to:)``.
    public var initialValue: [UInt8]?
    /// ELF section index of the definition (or the data section), and byte offset within it.
    public var sectionIndex: Int
    /// Byte offset of the definition in its section.
    public var sectionOffset: UInt64

    /// Whether this is one of the loader's internal maps (global data, `.kconfig`).
    public var isInternal: Bool {
        switch origin {
        case .globalData, .kconfig: true
        default: false
        }
    }

    /// Whether programs may not write the map (`BPF_F_RDONLY_PROG`): `.rodata*` and `.kconfig`.
    public var isReadOnlyForPrograms: Bool { flags & MapFlag.readOnlyForPrograms != 0 }
}

/// The inner map of a map-in-map (boxed: a ``MapSpec`` cannot contain itself by value).
public final class InnerMap: Sendable {
    /// The inner map's definition.
    public let spec: MapSpec
    /// Wraps a definition.
    public init(_ spec: MapSpec) { self.spec = spec }
}

/// `map_flags` bits the loader itself sets or reads.
public enum MapFlag {
    /// `BPF_F_NO_PREALLOC`.
    public static let noPrealloc: UInt32 = 1 << 0
    /// `BPF_F_NUMA_NODE`.
    public static let numaNode: UInt32 = 1 << 2
    /// `BPF_F_RDONLY_PROG`: programs may read but not write.
    public static let readOnlyForPrograms: UInt32 = 1 << 7
    /// `BPF_F_MMAPABLE`: array contents may be memory-mapped.
    public static let mmapable: UInt32 = 1 << 10
}
