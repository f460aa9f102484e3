// The kernel's `enum bpf_map_type`, as data, with the per-type facts a loader needs.
//
// Raw values: <linux/bpf.h>. Names: libbpf's `libbpf_bpf_map_type_str()`, which `bpftool map show` prints.
// Traits follow libbpf's map creation (which types get BTF key/value ids, which are map-in-map).

/// A BPF map type (`enum bpf_map_type`). Wraps the raw value so values newer than this table survive.
public struct MapType: KernelEnumeration {
    /// The kernel's value (`BPF_MAP_CREATE`'s `map_type`).
    public let rawValue: UInt32

    /// Wraps a raw kernel value; any value is accepted (unknown ones print as `type N`).
    public init(rawValue: UInt32) { self.rawValue = rawValue }


    /// Facts about a map type that change how it is created or accessed.
    public struct Traits: OptionSet, Hashable, Sendable {
        /// The raw bits (our own numbering, not the kernel's).
        public let rawValue: UInt32
        /// Makes a set from raw bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// One value per possible CPU: user space reads and writes `round_up(value_size, 8) * CPUs` bytes.
        public static let perCPU = Traits(rawValue: 1 << 0)
        /// Values are other maps (`ARRAY_OF_MAPS`, `HASH_OF_MAPS`): creation needs an inner map fd.
        public static let mapInMap = Traits(rawValue: 1 << 1)
        /// The kernel refuses BTF key/value type ids for this type: create it without `btf_fd` and ids.
        public static let rejectsBTFKeyValue = Traits(rawValue: 1 << 2)
        /// The kernel refuses a BTF value type id (struct_ops uses `btf_vmlinux_value_type_id` instead).
        public static let rejectsBTFValue = Traits(rawValue: 1 << 3)
        /// A ring buffer: `max_entries` is a byte size, a power-of-two multiple of the page size.
        public static let ringBuffer = Traits(rawValue: 1 << 4)
        /// No keys (`key_size` 0): queue, stack, bloom filter, ring buffers; accessed by push/pop/peek.
        public static let keyless = Traits(rawValue: 1 << 5)
        /// Indexed by CPU and holding perf event fds (`PERF_EVENT_ARRAY`); `max_entries` 0 = CPU count.
        public static let perfEventArray = Traits(rawValue: 1 << 6)
    }

    /// One row of the map type table.
    public struct Entry: KernelEnumRow, Hashable {
        /// The kernel's value.
        public let rawValue: UInt32
        /// The `<linux/bpf.h>` constant, e.g. `BPF_MAP_TYPE_HASH`.
        public let kernelName: String
        /// The name bpftool prints, e.g. `hash`.
        public let name: String
        /// What a loader must know about this type.
        public let traits: Traits

        /// Makes a row.
        public init(_ rawValue: UInt32, _ kernelName: String, _ name: String, _ traits: Traits = []) {
            self.rawValue = rawValue
            self.kernelName = kernelName
            self.name = name
            self.traits = traits
        }
    }

    /// The type's traits; empty for unknown types.
    public var traits: Traits { entry?.traits ?? [] }

    /// True for per-CPU types (values are per CPU in user space).
    public var isPerCPU: Bool { traits.contains(.perCPU) }
    /// True for `ARRAY_OF_MAPS` and `HASH_OF_MAPS`.
    public var isMapInMap: Bool { traits.contains(.mapInMap) }
    /// False when the kernel refuses BTF key/value type ids for this type (create it without them).
    public var acceptsBTFKeyValueTypeIDs: Bool { !traits.contains(.rejectsBTFKeyValue) }
    /// False when the kernel refuses a BTF value type id (key/value refusal included).
    public var acceptsBTFValueTypeID: Bool {
        traits.isDisjoint(with: [.rejectsBTFKeyValue, .rejectsBTFValue])
    }
    /// True for `RINGBUF` and `USER_RINGBUF`.
    public var isRingBuffer: Bool { traits.contains(.ringBuffer) }

    /// Every map type this table knows, in raw-value order (row i has raw value i).
    public static let table: [Entry] = [
        Entry(0, "BPF_MAP_TYPE_UNSPEC", "unspec"),
        Entry(1, "BPF_MAP_TYPE_HASH", "hash"),
        Entry(2, "BPF_MAP_TYPE_ARRAY", "array"),
        Entry(3, "BPF_MAP_TYPE_PROG_ARRAY", "prog_array"),
        Entry(4, "BPF_MAP_TYPE_PERF_EVENT_ARRAY", "perf_event_array", [.rejectsBTFKeyValue, .perfEventArray]),
        Entry(5, "BPF_MAP_TYPE_PERCPU_HASH", "percpu_hash", .perCPU),
        Entry(6, "BPF_MAP_TYPE_PERCPU_ARRAY", "percpu_array", .perCPU),
        Entry(7, "BPF_MAP_TYPE_STACK_TRACE", "stack_trace", .rejectsBTFKeyValue),
        Entry(8, "BPF_MAP_TYPE_CGROUP_ARRAY", "cgroup_array", .rejectsBTFKeyValue),
        Entry(9, "BPF_MAP_TYPE_LRU_HASH", "lru_hash"),
        Entry(10, "BPF_MAP_TYPE_LRU_PERCPU_HASH", "lru_percpu_hash", .perCPU),
        Entry(11, "BPF_MAP_TYPE_LPM_TRIE", "lpm_trie"),
        Entry(12, "BPF_MAP_TYPE_ARRAY_OF_MAPS", "array_of_maps", [.mapInMap, .rejectsBTFKeyValue]),
        Entry(13, "BPF_MAP_TYPE_HASH_OF_MAPS", "hash_of_maps", [.mapInMap, .rejectsBTFKeyValue]),
        Entry(14, "BPF_MAP_TYPE_DEVMAP", "devmap", .rejectsBTFKeyValue),
        Entry(15, "BPF_MAP_TYPE_SOCKMAP", "sockmap", .rejectsBTFKeyValue),
        Entry(16, "BPF_MAP_TYPE_CPUMAP", "cpumap", .rejectsBTFKeyValue),
        Entry(17, "BPF_MAP_TYPE_XSKMAP", "xskmap", .rejectsBTFKeyValue),
        Entry(18, "BPF_MAP_TYPE_SOCKHASH", "sockhash", .rejectsBTFKeyValue),
        Entry(19, "BPF_MAP_TYPE_CGROUP_STORAGE", "cgroup_storage"),
        Entry(20, "BPF_MAP_TYPE_REUSEPORT_SOCKARRAY", "reuseport_sockarray"),
        Entry(21, "BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE", "percpu_cgroup_storage", .perCPU),
        Entry(22, "BPF_MAP_TYPE_QUEUE", "queue", [.rejectsBTFKeyValue, .keyless]),
        Entry(23, "BPF_MAP_TYPE_STACK", "stack", [.rejectsBTFKeyValue, .keyless]),
        Entry(24, "BPF_MAP_TYPE_SK_STORAGE", "sk_storage"),
        Entry(25, "BPF_MAP_TYPE_DEVMAP_HASH", "devmap_hash", .rejectsBTFKeyValue),
        Entry(26, "BPF_MAP_TYPE_STRUCT_OPS", "struct_ops", .rejectsBTFValue),
        Entry(27, "BPF_MAP_TYPE_RINGBUF", "ringbuf", [.ringBuffer, .keyless]),
        Entry(28, "BPF_MAP_TYPE_INODE_STORAGE", "inode_storage"),
        Entry(29, "BPF_MAP_TYPE_TASK_STORAGE", "task_storage"),
        Entry(30, "BPF_MAP_TYPE_BLOOM_FILTER", "bloom_filter", .keyless),
        Entry(31, "BPF_MAP_TYPE_USER_RINGBUF", "user_ringbuf", [.ringBuffer, .keyless]),
        Entry(32, "BPF_MAP_TYPE_CGRP_STORAGE", "cgrp_storage"),
        Entry(33, "BPF_MAP_TYPE_ARENA", "arena", .rejectsBTFKeyValue),
        // Newer than the 6.18 kernel of the test machines (from libbpf's copy of the bpf-next UAPI).
        Entry(34, "BPF_MAP_TYPE_INSN_ARRAY", "insn_array"),
        Entry(35, "BPF_MAP_TYPE_RHASH", "rhash"),
    ]
}

extension MapType {
    /// `BPF_MAP_TYPE_UNSPEC`: no type (invalid for creation).
    public static let unspecified = MapType(rawValue: 0)
    /// `BPF_MAP_TYPE_HASH`.
    public static let hash = MapType(rawValue: 1)
    /// `BPF_MAP_TYPE_ARRAY` (also what global data sections become).
    public static let array = MapType(rawValue: 2)
    /// `BPF_MAP_TYPE_PROG_ARRAY`: tail-call table of program fds.
    public static let progArray = MapType(rawValue: 3)
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: per-CPU perf buffers.
    public static let perfEventArray = MapType(rawValue: 4)
    /// `BPF_MAP_TYPE_PERCPU_HASH`.
    public static let percpuHash = MapType(rawValue: 5)
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    public static let percpuArray = MapType(rawValue: 6)
    /// `BPF_MAP_TYPE_STACK_TRACE`.
    public static let stackTrace = MapType(rawValue: 7)
    /// `BPF_MAP_TYPE_CGROUP_ARRAY`.
    public static let cgroupArray = MapType(rawValue: 8)
    /// `BPF_MAP_TYPE_LRU_HASH`.
    public static let lruHash = MapType(rawValue: 9)
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`.
    public static let lruPercpuHash = MapType(rawValue: 10)
    /// `BPF_MAP_TYPE_LPM_TRIE`.
    public static let lpmTrie = MapType(rawValue: 11)
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
    public static let arrayOfMaps = MapType(rawValue: 12)
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`.
    public static let hashOfMaps = MapType(rawValue: 13)
    /// `BPF_MAP_TYPE_DEVMAP`.
    public static let devmap = MapType(rawValue: 14)
    /// `BPF_MAP_TYPE_SOCKMAP`.
    public static let sockmap = MapType(rawValue: 15)
    /// `BPF_MAP_TYPE_CPUMAP`.
    public static let cpumap = MapType(rawValue: 16)
    /// `BPF_MAP_TYPE_XSKMAP`.
    public static let xskmap = MapType(rawValue: 17)
    /// `BPF_MAP_TYPE_SOCKHASH`.
    public static let sockhash = MapType(rawValue: 18)
    /// `BPF_MAP_TYPE_CGROUP_STORAGE`.
    public static let cgroupStorage = MapType(rawValue: 19)
    /// `BPF_MAP_TYPE_REUSEPORT_SOCKARRAY`.
    public static let reuseportSockarray = MapType(rawValue: 20)
    /// `BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE`.
    public static let percpuCgroupStorage = MapType(rawValue: 21)
    /// `BPF_MAP_TYPE_QUEUE`.
    public static let queue = MapType(rawValue: 22)
    /// `BPF_MAP_TYPE_STACK`.
    public static let stack = MapType(rawValue: 23)
    /// `BPF_MAP_TYPE_SK_STORAGE`.
    public static let skStorage = MapType(rawValue: 24)
    /// `BPF_MAP_TYPE_DEVMAP_HASH`.
    public static let devmapHash = MapType(rawValue: 25)
    /// `BPF_MAP_TYPE_STRUCT_OPS`.
    public static let structOps = MapType(rawValue: 26)
    /// `BPF_MAP_TYPE_RINGBUF`.
    public static let ringbuf = MapType(rawValue: 27)
    /// `BPF_MAP_TYPE_INODE_STORAGE`.
    public static let inodeStorage = MapType(rawValue: 28)
    /// `BPF_MAP_TYPE_TASK_STORAGE`.
    public static let taskStorage = MapType(rawValue: 29)
    /// `BPF_MAP_TYPE_BLOOM_FILTER`.
    public static let bloomFilter = MapType(rawValue: 30)
    /// `BPF_MAP_TYPE_USER_RINGBUF`.
    public static let userRingbuf = MapType(rawValue: 31)
    /// `BPF_MAP_TYPE_CGRP_STORAGE`.
    public static let cgrpStorage = MapType(rawValue: 32)
    /// `BPF_MAP_TYPE_ARENA`.
    public static let arena = MapType(rawValue: 33)
    /// `BPF_MAP_TYPE_INSN_ARRAY` (newer than kernel 6.18).
    public static let insnArray = MapType(rawValue: 34)
    /// `BPF_MAP_TYPE_RHASH` (newer than kernel 6.18).
    public static let rhash = MapType(rawValue: 35)
}

