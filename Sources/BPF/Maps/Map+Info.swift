import BPFObject
import BTF
import ByteParsing
import CBPF
import SystemPackage

/// What the kernel says about a live map (`struct bpf_map_info`).
public struct MapInfo: Sendable, Hashable {
    /// The map's kernel id (what `bpftool map show` lists).
    public var id: UInt32
    /// The map type.
    public var type: MapType
    /// Key size in bytes.
    public var keySize: Int
    /// Value size in bytes (per CPU for per-CPU maps).
    public var valueSize: Int
    /// Maximum number of entries.
    public var maxEntries: UInt32
    /// `map_flags` as created.
    public var flags: UInt32
    /// The kernel's copy of the name (at most 15 bytes).
    public var name: String
    /// Id of the BTF object describing the key and value (0 without BTF).
    public var btfID: UInt32
    /// BTF type id of the key in that BTF object (0 without).
    public var btfKeyTypeID: UInt32
    /// BTF type id of the value in that BTF object (0 without).
    public var btfValueTypeID: UInt32
    /// vmlinux BTF type id of a struct_ops value (0 otherwise).
    public var btfVMLinuxValueTypeID: UInt32
    /// The type-specific `map_extra` (bloom filter hash count, arena address).
    public var mapExtra: UInt64
    /// The interface of an offloaded map (0 otherwise).
    public var ifindex: UInt32
}

extension Map {
    /// The kernel's description of the map: id, type, sizes, flags, name, BTF ids. The corresponding kernel
    /// command is `BPF_OBJ_GET_INFO_BY_FD`.
    public func info() throws(BPFError) -> MapInfo {
        try Map.info(of: descriptor.rawValue, "map \(name)")
    }

    private static func info(of fd: Int32, _ what: String) throws(BPFError) -> MapInfo {
        var raw = bpf_map_info()
        if case .failure(let errno) = SystemCall.objectInfo(fd, &raw) {
            throw BPFError(errno: errno, command: .objectGetInfoByFD, "reading the info of \(what)")
        }
        return MapInfo(id: raw.id, type: MapType(rawValue: raw.type), keySize: Int(raw.key_size),
                       valueSize: Int(raw.value_size), maxEntries: raw.max_entries, flags: raw.map_flags,
                       name: withUnsafeBytes(of: raw.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) },
                       btfID: raw.btf_id, btfKeyTypeID: raw.btf_key_type_id, btfValueTypeID: raw.btf_value_type_id,
                       btfVMLinuxValueTypeID: raw.btf_vmlinux_value_type_id, mapExtra: raw.map_extra,
                       ifindex: raw.ifindex)
    }

    /// A map for an already open descriptor (opened by pin or id): shape from the kernel's info, key and
    /// value types from the map's BTF object when it has one and it can be read.
    convenience init(describing fd: OwnedFileDescriptor) throws(BPFError) {
        let info = try Map.info(of: fd.rawValue, "map")
        let btf = info.btfID == 0 ? nil : Map.kernelBTF(id: info.btfID)
        self.init(descriptor: fd, name: info.name, type: info.type, keySize: info.keySize, valueSize: info.valueSize,
                  maxEntries: info.maxEntries, flags: info.flags, btf: btf,
                  keyTypeID: btf == nil ? 0 : info.btfKeyTypeID, valueTypeID: btf == nil ? 0 : info.btfValueTypeID)
    }

    /// The largest BTF object read back from the kernel for a map's types.
    private static let maximumKernelBTFSize = 64 << 20

    /// The BTF object with kernel id `id`, read back and parsed (as split BTF on vmlinux when it does not
    /// stand alone); nil when it cannot be read or parsed.
    private static func kernelBTF(id: UInt32) -> TypeGraph? {
        guard case .success(let raw) = SystemCall.descriptor(of: .btf, id: id),
              let fd = try? OwnedFileDescriptor(adopting: Int32(raw)) else { return nil }
        var info = bpf_btf_info()
        guard case .success = SystemCall.objectInfo(fd.rawValue, &info),
              info.btf_size > 0, Int(info.btf_size) <= maximumKernelBTFSize else { return nil }
        let size = Int(info.btf_size)
        var bytes = [UInt8](repeating: 0, count: size)
        let fetched: Bool = bytes.withUnsafeMutableBytes { buffer in
            var second = bpf_btf_info()
            second.btf = kernelPointer(buffer.baseAddress)
            second.btf_size = UInt32(size)
            guard case .success = SystemCall.objectInfo(fd.rawValue, &second) else { return false }
            return Int(second.btf_size) == size
        }
        guard fetched else { return nil }
        let view = ByteStorage(bytes).view(order: .little)
        if let graph = try? TypeGraph(data: view) { return graph }
        guard let base = try? KernelBTF.vmlinux() else { return nil }
        return try? TypeGraph(splitData: view, base: base)
    }

    /// Creates a map without BTF (as cilium/ebpf's `NewMap` does for a plain spec): for tools and tests
    /// that need a map outside an object.
    ///
    /// `name` is shortened to the kernel's 15 bytes, characters it refuses replaced by `_` as libbpf does (it allows
    /// letters, digits, `_` and `.`). `mapExtra` is the type-specific extra (a bloom filter's number of
    /// hash functions; 0 for the default). The corresponding kernel command is `BPF_MAP_CREATE`.
    /// - Throws: ``BPFError`` when a size is out of range or the kernel refuses the map.
    public static func create(type: MapType, keySize: Int, valueSize: Int, maxEntries: UInt32, flags: UInt32 = 0,
                              name: String = "", mapExtra: UInt64 = 0) throws(BPFError) -> Map {
        guard (0...Int(UInt32.max)).contains(keySize), (0...Int(UInt32.max)).contains(valueSize) else {
            throw BPFError(.invalidArgument, "creating \(type) map \(name): key size \(keySize) or value size \(valueSize) out of range")
        }
        let kernelName = KernelName.sanitized(name)
        var attr = cbpf_map_create_attr()
        attr.map_type = type.rawValue
        attr.key_size = UInt32(keySize)
        attr.value_size = UInt32(valueSize)
        attr.max_entries = maxEntries
        attr.map_flags = flags
        attr.map_extra = mapExtra
        withUnsafeMutableBytes(of: &attr.map_name) { buffer in
            for (index, byte) in kernelName.utf8.enumerated() { buffer[index] = byte }
        }
        let fd: OwnedFileDescriptor
        switch SystemCall.mapCreate(&attr) {
        case .success(let raw): fd = try OwnedFileDescriptor(adopting: Int32(raw))
        case .failure(let errno):
            var error = BPFError(errno: errno, command: .mapCreate,
                                 "creating \(type) map \(name.isEmpty ? "(unnamed)" : name) (key \(keySize), value \(valueSize), max_entries \(maxEntries), flags 0x\(String(flags, radix: 16)))")
            if errno == .invalidArgument { error.details.append("the kernel refused this combination of type, sizes and flags") }
            throw error
        }
        return Map(descriptor: fd, name: name.isEmpty ? kernelName : name, type: type, keySize: keySize,
                   valueSize: valueSize, maxEntries: maxEntries, flags: flags)
    }
}
