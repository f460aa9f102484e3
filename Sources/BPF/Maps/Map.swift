import BPFObject
import BTF
import ByteParsing

/// A live BPF map: owns one descriptor, closed when the last reference goes away.
///
/// Created by loading an object (``LoadedObject/maps``), by opening a pinned map
/// (``Map/open(pinnedAt:)``), or by id. Access lives in `Map+Access.swift`; BTF decoding of keys and
/// values uses the object's BTF when the map came from an object.
public final class Map: @unchecked Sendable {
    /// The map's descriptor.
    public let descriptor: OwnedFileDescriptor
    /// The map's name in the object (`.rodata` for global data), or the kernel's name when opened by id or pin.
    public let name: String
    /// The map type.
    public let type: MapType
    /// Key size in bytes.
    public let keySize: Int
    /// Value size in bytes (per CPU for per-CPU maps).
    public let valueSize: Int
    /// Maximum number of entries as created (after perf-array and ring-buffer sizing).
    public let maxEntries: UInt32
    /// `map_flags` as created.
    public let flags: UInt32
    /// The BTF the key and value types are described in (the object's), if known.
    public let btf: TypeGraph?
    /// BTF type id of the key in ``btf`` (0 when unknown).
    public let keyTypeID: UInt32
    /// BTF type id of the value in ``btf`` (0 when unknown).
    public let valueTypeID: UInt32
    /// Where the map is pinned, when it was pinned or reused from a pin.
    public internal(set) var pinnedPath: String?
    /// The contents mapped into this process (global data maps created `BPF_F_MMAPABLE`).
    public internal(set) var memory: MappedMapMemory?

    /// Wraps a descriptor with the map's shape.
    public init(descriptor: OwnedFileDescriptor, name: String, type: MapType, keySize: Int, valueSize: Int,
                maxEntries: UInt32, flags: UInt32, btf: TypeGraph? = nil, keyTypeID: UInt32 = 0,
                valueTypeID: UInt32 = 0) {
        self.descriptor = descriptor
        self.name = name
        self.type = type
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        self.flags = flags
        self.btf = btf
        self.keyTypeID = keyTypeID
        self.valueTypeID = valueTypeID
    }
}
