import BPFObject
import BTF
import CBPF
import SystemPackage

/// Creates an object's maps as libbpf does (`bpf_object__create_maps`): sizes the kernel decides at load
/// (perf event arrays, ring buffers), BTF key/value ids with a retry without them, inner maps for
/// map-in-map, pinned maps reused when compatible, global data filled, frozen and mapped.
struct MapCreation {
    var spec: ObjectSpec
    var btf: OwnedFileDescriptor?
    var features: LoaderFeatures
    var pinDirectory: String
    /// Pins this load created, removed again if the load fails.
    var newPins: [String] = []
    var warnings: [String] = []
    var statistics = LoadStatistics()

    /// Creates every map of the spec, in order.
    mutating func createAll(kconfigImage: [UInt8]?) throws(BPFError) -> [Map] {
        var maps: [Map] = []
        for var mapSpec in spec.maps {
            if mapSpec.origin == .kconfig, let kconfigImage { mapSpec.initialValue = kconfigImage }
            maps.append(try create(mapSpec))
        }
        try writeInnerMapSlots(maps)
        return maps
    }

    /// One map: reused from its pin, or created (and pinned when asked).
    mutating func create(_ mapSpec: MapSpec) throws(BPFError) -> Map {
        let pinPath = pinPath(of: mapSpec)
        if let pinPath, BPFFileSystem.exists(pinPath) {
            return try reusePinned(mapSpec, at: pinPath)
        }
        let map = try createFresh(mapSpec)
        if let pinPath {
            try BPFFileSystem.prepare(String(pinPath[..<(pinPath.lastIndex(of: "/") ?? pinPath.endIndex)]))
            if case .failure(let errno) = SystemCall.objectPin(map.descriptor.rawValue, path: pinPath) {
                throw BPFError(.pinning, "map '\(mapSpec.name)': pinning at \(pinPath) failed: \(errno.symbolicName) (\(errno.kernelDescription))",
                               command: .objectPin, errno: errno)
            }
            newPins.append(pinPath)
            map.pinnedPath = pinPath
        }
        return map
    }

    /// Where a map is pinned: `DIR/NAME` for `LIBBPF_PIN_BY_NAME`, `DIR/tc/globals/NAME` for iproute2's
    /// `PIN_GLOBAL_NS`; nil when not pinned. (iproute2's per-object namespace has no libbpf meaning and is
    /// treated as not pinned.)
    func pinPath(of mapSpec: MapSpec) -> String? {
        switch mapSpec.pinning {
        case .none: nil
        case .byName: pinDirectory + "/" + mapSpec.name
        case .iproute2(let value): value == 2 ? pinDirectory + "/tc/globals/" + mapSpec.name : nil
        }
    }

    /// The attributes the kernel gets for a spec, with the load-time sizing rules.
    func attributes(_ mapSpec: MapSpec, withBTF: Bool) -> cbpf_map_create_attr {
        var attr = cbpf_map_create_attr()
        attr.map_type = mapSpec.type.rawValue
        attr.key_size = mapSpec.keySize
        attr.value_size = mapSpec.valueSize
        attr.max_entries = Self.maxEntries(mapSpec, pageSize: features.pageSize, possibleCPUs: { features.possibleCPUs })
        attr.map_flags = mapSpec.flags
        if mapSpec.isInternal, attr.map_flags & MapFlag.mmapable != 0, !features.mmapableMaps {
            // The loader added the flag; drop it where unknown.
            attr.map_flags &= ~MapFlag.mmapable
        }
        attr.numa_node = mapSpec.flags & MapFlag.numaNode != 0 ? mapSpec.numaNode : 0
        attr.map_extra = mapSpec.mapExtra
        if mapSpec.type.traits.contains(.perfEventArray) {
            if attr.key_size == 0 { attr.key_size = 4 }
            if attr.value_size == 0 { attr.value_size = 4 }
        }
        // A map-in-map's values are inner map ids, 4 bytes; legacy `maps` records often leave the size 0
        // (cilium/ebpf sets 4 for these too).
        if mapSpec.type.isMapInMap, attr.value_size == 0 { attr.value_size = 4 }
        if features.objectNames {
            withUnsafeMutableBytes(of: &attr.map_name) { name in
                for (index, byte) in mapSpec.kernelName.utf8.prefix(15).enumerated() { name[index] = byte }
            }
        }
        if withBTF, let btf, mapSpec.keyTypeID != 0 || mapSpec.valueTypeID != 0,
           mapSpec.type.acceptsBTFKeyValueTypeIDs {
            attr.btf_fd = UInt32(bitPattern: btf.rawValue)
            attr.btf_key_type_id = mapSpec.keyTypeID
            attr.btf_value_type_id = mapSpec.type.acceptsBTFValueTypeID ? mapSpec.valueTypeID : 0
        }
        return attr
    }

    /// `max_entries` as created: one per possible CPU for a perf event array left at 0 (or asking for
    /// more), a ring buffer's size rounded up to a power-of-two number of pages (libbpf's
    /// `adjust_ringbuf_sz`). `possibleCPUs` is asked only for a perf event array (it reads sysfs).
    static func maxEntries(_ mapSpec: MapSpec, pageSize: Int, possibleCPUs: () -> Int) -> UInt32 {
        if mapSpec.type.traits.contains(.perfEventArray) {
            let cpus = UInt32(possibleCPUs())
            return mapSpec.maxEntries == 0 || mapSpec.maxEntries > cpus ? cpus : mapSpec.maxEntries
        }
        if mapSpec.type.isRingBuffer {
            var size = UInt64(pageSize)
            while size < UInt64(mapSpec.maxEntries) && size < 1 << 31 { size <<= 1 }
            return UInt32(truncatingIfNeeded: size)
        }
        return mapSpec.maxEntries
    }

    private mutating func createFresh(_ mapSpec: MapSpec) throws(BPFError) -> Map {
        var inner: Map?
        if mapSpec.type.isMapInMap {
            guard let innerSpec = mapSpec.innerMap?.spec else {
                throw BPFError(.invalidObject, "map '\(mapSpec.name)': a map-in-map needs an inner map definition: declare it with __array(values, ...) in a BTF map, or set MapSpec.innerMap before loading (a legacy `maps` record cannot describe one)")
            }
            inner = try createFresh(innerSpec)
        }
        var attr = attributes(mapSpec, withBTF: true)
        if let inner { attr.inner_map_fd = UInt32(bitPattern: inner.descriptor.rawValue) }
        var result = LoadStatistics.timed(&statistics.mapCreateNanoseconds) { SystemCall.mapCreate(&attr) }
        if case .failure(let errno) = result, attr.btf_fd != 0 {
            // Some kernels refuse BTF for some map types or value layouts; libbpf retries without it.
            var plain = attributes(mapSpec, withBTF: false)
            plain.inner_map_fd = attr.inner_map_fd
            result = LoadStatistics.timed(&statistics.mapCreateNanoseconds) { SystemCall.mapCreate(&plain) }
            if case .success = result {
                warnings.append("map '\(mapSpec.name)': created without BTF key/value types (the kernel refused them: \(errno.symbolicName))")
                attr = plain
            }
        }
        let fd: Int
        switch result {
        case .success(let value): fd = value
        case .failure(let errno): throw Self.creationError(mapSpec, errno)
        }
        let descriptor = try OwnedFileDescriptor(adopting: Int32(fd))
        let map = Map(descriptor: descriptor, name: mapSpec.name, type: mapSpec.type, keySize: Int(attr.key_size),
                      valueSize: Int(attr.value_size), maxEntries: attr.max_entries, flags: attr.map_flags,
                      btf: spec.btf, keyTypeID: mapSpec.keyTypeID, valueTypeID: mapSpec.valueTypeID)
        if let image = mapSpec.initialValue {
            try fillGlobalData(map, mapSpec, image: image)
        }
        return map
    }

    /// Writes a global data map's image, freezes the read-only ones and maps the mmapable ones.
    private func fillGlobalData(_ map: Map, _ mapSpec: MapSpec, image: [UInt8]) throws(BPFError) {
        var value = image
        if value.count < map.valueSize { value += [UInt8](repeating: 0, count: map.valueSize - value.count) }
        var key: UInt32 = 0
        let written = value.withUnsafeBytes { bytes in
            SystemCall.mapUpdateElement(map.descriptor.rawValue, key: &key, value: bytes.baseAddress!)
        }
        if case .failure(let errno) = written {
            throw BPFError(errno: errno, command: .mapUpdateElement, "map '\(mapSpec.name)': writing the initial value")
        }
        let readOnly = mapSpec.isReadOnlyForPrograms
        if readOnly, case .failure(let errno) = SystemCall.mapFreeze(map.descriptor.rawValue) {
            throw BPFError(errno: errno, command: .mapFreeze, "map '\(mapSpec.name)': freezing")
        }
        if map.flags & MapFlag.mmapable != 0 {
            map.memory = MappedMapMemory(fd: map.descriptor.rawValue, valueSize: map.valueSize, readOnly: readOnly)
        }
    }

    /// Opens a pinned map and checks it is what the spec describes (libbpf's `map_is_reuse_compat`).
    private mutating func reusePinned(_ mapSpec: MapSpec, at path: String) throws(BPFError) -> Map {
        let fd: Int
        switch SystemCall.objectGet(path: path) {
        case .success(let value): fd = value
        case .failure(let errno):
            throw BPFError(.pinning, "map '\(mapSpec.name)': cannot open the pinned map at \(path): \(errno.symbolicName) (\(errno.kernelDescription))",
                           command: .objectGet, errno: errno)
        }
        let descriptor = try OwnedFileDescriptor(adopting: Int32(fd))
        var info = bpf_map_info()
        if case .failure(let errno) = SystemCall.objectInfo(descriptor.rawValue, &info) {
            throw BPFError(errno: errno, command: .objectGetInfoByFD, "map '\(mapSpec.name)': reading the pinned map at \(path)")
        }
        let wanted = attributes(mapSpec, withBTF: false)
        var differences: [String] = []
        func compare(_ field: String, _ pinned: some BinaryInteger, _ expected: some BinaryInteger) {
            if pinned != expected { differences.append("\(field) \(pinned) (pinned) vs \(expected) (object)") }
        }
        if info.type != wanted.map_type {
            differences.append("type \(MapType(rawValue: info.type)) (pinned) vs \(mapSpec.type) (object)")
        }
        compare("key_size", info.key_size, wanted.key_size)
        compare("value_size", info.value_size, wanted.value_size)
        compare("max_entries", info.max_entries, wanted.max_entries)
        compare("map_flags", info.map_flags, wanted.map_flags)
        compare("map_extra", info.map_extra, wanted.map_extra)
        guard differences.isEmpty else {
            throw BPFError(.pinning, "map '\(mapSpec.name)': the map pinned at \(path) is incompatible: \(differences.joined(separator: ", "))",
                           details: differences)
        }
        let map = Map(descriptor: descriptor, name: mapSpec.name, type: mapSpec.type, keySize: Int(info.key_size),
                      valueSize: Int(info.value_size), maxEntries: info.max_entries, flags: info.map_flags,
                      btf: spec.btf, keyTypeID: mapSpec.keyTypeID, valueTypeID: mapSpec.valueTypeID)
        map.pinnedPath = path
        return map
    }

    /// Writes `values = { [i] = &map }` of map-in-map definitions once every map exists.
    private func writeInnerMapSlots(_ maps: [Map]) throws(BPFError) {
        for (outer, mapSpec) in zip(maps, spec.maps) where mapSpec.type.isMapInMap {
            for slot in mapSpec.initialSlots {
                guard let inner = maps.first(where: { $0.name == slot.symbol }) else {
                    throw BPFError(.invalidObject, "map '\(mapSpec.name)': slot \(slot.index) names '\(slot.symbol)', which is not a map of the object")
                }
                try Self.writeSlot(outer, slot.index, inner.descriptor.rawValue, what: "map '\(mapSpec.name)' slot \(slot.index) = '\(slot.symbol)'")
            }
        }
    }

    /// Stores a descriptor (an inner map or a program) at `index` of an array of fds.
    static func writeSlot(_ map: Map, _ index: UInt32, _ fd: Int32, what: String) throws(BPFError) {
        var key = index
        var value = UInt32(bitPattern: fd)
        if case .failure(let errno) = SystemCall.mapUpdateElement(map.descriptor.rawValue, key: &key, value: &value) {
            throw BPFError(errno: errno, command: .mapUpdateElement, what)
        }
    }

    /// A map creation failure in words a user can act on.
    static func creationError(_ mapSpec: MapSpec, _ errno: Errno) -> BPFError {
        var error = BPFError(errno: errno, command: .mapCreate, "map '\(mapSpec.name)' (\(mapSpec.type))")
        if errno == .invalidArgument || errno == .notSupported || errno == .kernelNotSupported,
           !KernelFeatures.shared.supports(mapType: mapSpec.type) {
            error.code = .unsupported
            error.message += "; this kernel does not support map type \(mapSpec.type)"
        }
        return error
    }
}
