import Testing

@testable import BPFObject

@Suite struct KernelEnumTableTests {
    /// Raw values unique, dense from 0 (row i has value i, which the fast lookup relies on), names non-empty
    /// and unique, kernel constants carrying the right prefix.
    func checkTable(_ rows: [(UInt32, String, String)], kernelPrefix: String) {
        var names = Set<String>()
        var kernelNames = Set<String>()
        for (index, row) in rows.enumerated() {
            #expect(row.0 == UInt32(index), "row \(index) has raw value \(row.0)")
            #expect(!row.2.isEmpty && !row.1.isEmpty)
            #expect(names.insert(row.2).inserted, "duplicate name \(row.2)")
            #expect(kernelNames.insert(row.1).inserted, "duplicate constant \(row.1)")
            #expect(row.1.hasPrefix(kernelPrefix), "\(row.1)")
        }
    }

    @Test func tablesAreDenseAndUnique() {
        checkTable(ProgramType.table.map { ($0.rawValue, $0.kernelName, $0.name) }, kernelPrefix: "BPF_PROG_TYPE_")
        checkTable(MapType.table.map { ($0.rawValue, $0.kernelName, $0.name) }, kernelPrefix: "BPF_MAP_TYPE_")
        checkTable(AttachType.table.map { ($0.rawValue, $0.kernelName, $0.name) }, kernelPrefix: "BPF_")
        checkTable(LinkType.table.map { ($0.rawValue, $0.kernelName, $0.name) }, kernelPrefix: "BPF_LINK_TYPE_")
    }

    @Test func bpftoolNames() {
        let programNames =
            "unspec socket_filter kprobe sched_cls sched_act tracepoint xdp perf_event cgroup_skb cgroup_sock lwt_in "
            + "lwt_out lwt_xmit sock_ops sk_skb cgroup_device sk_msg raw_tracepoint cgroup_sock_addr lwt_seg6local "
            + "lirc_mode2 sk_reuseport flow_dissector cgroup_sysctl raw_tracepoint_writable cgroup_sockopt tracing "
            + "struct_ops ext lsm sk_lookup syscall netfilter"
        #expect(ProgramType.table.map(\.name) == programNames.split(separator: " ").map(String.init))
        let mapNames =
            "unspec hash array prog_array perf_event_array percpu_hash percpu_array stack_trace cgroup_array lru_hash "
            + "lru_percpu_hash lpm_trie array_of_maps hash_of_maps devmap sockmap cpumap xskmap sockhash "
            + "cgroup_storage reuseport_sockarray percpu_cgroup_storage queue stack sk_storage devmap_hash struct_ops "
            + "ringbuf inode_storage task_storage bloom_filter user_ringbuf cgrp_storage arena insn_array rhash"
        #expect(MapType.table.map(\.name) == mapNames.split(separator: " ").map(String.init))
        #expect(AttachType.tcxIngress.rawValue == 46 && AttachType.tcxIngress.description == "tcx_ingress")
        #expect(AttachType.tcxEgress.rawValue == 47 && AttachType.tcxEgress.description == "tcx_egress")
        #expect(AttachType.netkitPrimary.description == "netkit_primary")
        #expect(AttachType.cgroupInetIngress.description == "cgroup_inet_ingress")
        #expect(AttachType.traceUprobeMulti.rawValue == 48)
        #expect(LinkType.tcx.description == "tcx" && LinkType.perfEvent.rawValue == 7)
    }

    @Test func constantsMatchTheirRows() {
        #expect(ProgramType.kprobe.kernelName == "BPF_PROG_TYPE_KPROBE")
        #expect(ProgramType.schedCls.kernelName == "BPF_PROG_TYPE_SCHED_CLS")
        #expect(ProgramType.netfilter.kernelName == "BPF_PROG_TYPE_NETFILTER")
        #expect(ProgramType.tracing.kernelName == "BPF_PROG_TYPE_TRACING")
        #expect(MapType.ringbuf.kernelName == "BPF_MAP_TYPE_RINGBUF")
        #expect(MapType.arena.kernelName == "BPF_MAP_TYPE_ARENA")
        #expect(MapType.cgroupStorage.kernelName == "BPF_MAP_TYPE_CGROUP_STORAGE")
        #expect(AttachType.skSKBVerdict.kernelName == "BPF_SK_SKB_VERDICT")
        #expect(AttachType.cgroupUDP6Recvmsg.kernelName == "BPF_CGROUP_UDP6_RECVMSG")
        #expect(AttachType.traceFsessionMulti.kernelName == "BPF_TRACE_FSESSION_MULTI")
        #expect(LinkType.sockmap.kernelName == "BPF_LINK_TYPE_SOCKMAP")
    }

    @Test func unknownValuesPrintAsTypeN() {
        #expect(ProgramType(rawValue: 99).description == "type 99")
        #expect(ProgramType(rawValue: 99).name == nil)
        #expect(MapType(rawValue: 1000).description == "type 1000")
        #expect(MapType(rawValue: 1000).traits.isEmpty)
        #expect(AttachType(rawValue: .max).description == "type 4294967295")
        #expect(LinkType(rawValue: 77).kernelName == nil)
    }

    @Test func lookupByName() {
        #expect(ProgramType(name: "sched_cls") == .schedCls)
        #expect(ProgramType(name: "BPF_PROG_TYPE_XDP") == .xdp)
        #expect(ProgramType(name: "nope") == nil)
        #expect(MapType(name: "lru_percpu_hash") == .lruPercpuHash)
        #expect(AttachType(name: "tcx_egress") == .tcxEgress)
        #expect(AttachType(name: "BPF_TRACE_ITER") == .traceIter)
        #expect(LinkType(name: "uprobe_multi") == .uprobeMulti)
    }

    @Test func mapTraits() {
        let perCPU = MapType.table.filter { MapType(rawValue: $0.rawValue).isPerCPU }.map(\.name)
        #expect(perCPU == ["percpu_hash", "percpu_array", "lru_percpu_hash", "percpu_cgroup_storage"])
        #expect(MapType.arrayOfMaps.isMapInMap && MapType.hashOfMaps.isMapInMap && !MapType.hash.isMapInMap)
        // libbpf's list of types created without BTF key/value ids.
        let noBTF = MapType.table.filter { !MapType(rawValue: $0.rawValue).acceptsBTFKeyValueTypeIDs }.map(\.name)
        #expect(
            Set(noBTF) == [
                "perf_event_array", "cgroup_array", "stack_trace", "array_of_maps", "hash_of_maps", "devmap",
                "devmap_hash", "cpumap", "xskmap", "sockmap", "sockhash", "queue", "stack", "arena",
            ])
        #expect(MapType.structOps.acceptsBTFKeyValueTypeIDs && !MapType.structOps.acceptsBTFValueTypeID)
        #expect(MapType.hash.acceptsBTFValueTypeID && !MapType.queue.acceptsBTFValueTypeID)
        #expect(MapType.ringbuf.isRingBuffer && MapType.userRingbuf.isRingBuffer && !MapType.array.isRingBuffer)
    }
}
