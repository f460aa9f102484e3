import BPFObject
import CBPF
import Foundation
import Testing
import TestSupport
@testable import BPF

#if canImport(Glibc)
import Glibc
#endif

/// Loading and releasing objects leaves nothing behind: descriptors of this process, and programs, maps
/// and BTF objects in the kernel.
///
/// Other suites may run at the same time in this process, and other processes in the kernel, so the
/// accounting counts this test's own objects: the kernel ids it created (read from the loaded objects, or
/// seen appearing during a rejected load with its names and BTF size) must all be gone, and no descriptor
/// opened since the start may remain that refers to an object with this test's names (`hello`,
/// `hello.rodata`, `err_oob_map_val`, `small`, `xdp_ip_stats`, `src_stats`), BTF of its sizes, or a file
/// the loader reads. The plain descriptor count is compared too; a difference is printed, not failed,
/// since tests of other suites in this process open descriptors of their own at the same time.
@Suite(.serialized) struct LoaderResourceTests {
    typealias Support = LoaderTestSupport

    /// The kernel names of everything the cycled fixtures create (programs and maps).
    static let programNames: Set<String> = ["hello", "err_oob_map_val", "xdp_ip_stats"]
    static let mapNames: Set<String> = ["hello.rodata", "small", "src_stats"]

    /// This process's descriptors opened since `before` that are still open and belong to the loader:
    /// BPF objects with this test's names or BTF sizes, or files the loader reads.
    static func leftoverDescriptors(since before: [Int32: String], btfSizes: Set<UInt32>) -> [String] {
        var left: [String] = []
        for (fd, target) in Support.openDescriptors() where before[fd] != target {
            let info = Support.descriptorInfo(fd)
            let ours: Bool
            if let id = info["prog_id"].flatMap(UInt32.init) {
                ours = Support.kernelName(.program, id: id).map(programNames.contains) ?? false
            } else if let id = info["map_id"].flatMap(UInt32.init) {
                ours = Support.kernelName(.map, id: id).map(mapNames.contains) ?? false
            } else if target.contains("btf") {
                ours = info["btf_id"].flatMap(UInt32.init).flatMap(Support.btfSize).map(btfSizes.contains) ?? true
            } else {
                // Files the loader itself opens: the object, kernel BTF, kconfig, kallsyms, bpffs.
                ours = target.hasPrefix(TestPaths.fixtures) || target.hasPrefix("/sys/") || target.hasPrefix("/proc/")
                    || target.hasPrefix("/boot/")
            }
            if ours { left.append("fd \(fd) -> \(target) \(info)") }
        }
        return left
    }

    /// The kernel ids of one object kind that appeared since `before` and carry one of `names` (programs,
    /// maps) or one of `btfSizes` (BTF).
    static func newIDs(_ kind: KernelObjectKind, since before: Set<UInt32>, names: Set<String> = [],
                       btfSizes: Set<UInt32> = []) -> Set<UInt32> {
        Set(SystemCall.allIDs(of: kind).filter { id in
            guard !before.contains(id) else { return false }
            if kind == .btf { return Support.btfSize(id: id).map(btfSizes.contains) ?? false }
            return Support.kernelName(kind, id: id).map(names.contains) ?? false
        })
    }

    /// The ids of the program, map and BTF objects behind `loaded`.
    static func allIDs(of loaded: LoadedObject) throws -> [(KernelObjectKind, UInt32)] {
        var ids: [(KernelObjectKind, UInt32)] = []
        for program in loaded.programs {
            let id = try program.info().id
            #expect(try program.kernelID() == id)
            ids.append((.program, id))
        }
        for map in loaded.maps { ids.append((.map, try map.info().id)) }
        if let btf = loaded.btf {
            var info = bpf_btf_info()
            if case .success = SystemCall.objectInfo(btf.rawValue, &info) { ids.append((.btf, info.id)) }
        }
        return ids
    }

    /// The size of the BTF the loader gives the kernel for a fixture (to recognise its BTF objects).
    static func btfSize(_ name: String) throws -> UInt32? {
        let spec = try Support.spec(Support.fixture(name))
        return try spec.kernelBTF(support: KernelFeatures.shared.btfSupport).map { UInt32($0.count) }
    }

    /// 1,000 load/close cycles of hello.o, every 10th one of err_oob.o instead (rejected by the verifier
    /// after its map and BTF were created, and after a retry with a log), leave the descriptor count and
    /// the kernel's program, map and BTF ids where they started.
    ///
    /// The ids of the loaded objects are read from the objects; the ids of a rejected load's map and BTF
    /// are those that appeared during that load with its names and BTF size.
    @Test func thousandCyclesLeaveNothing() throws {
        try Support.requireRoot()
        let hello = Support.fixture("hello.o"), oob = Support.fixture("err_oob.o")
        let sizes = Set([try Self.btfSize("hello.o"), try Self.btfSize("err_oob.o")].compactMap { $0 })
        #expect(sizes.count == 2)
        let descriptorsBefore = Support.openDescriptors()
        let programsBefore = Set(SystemCall.allIDs(of: .program))
        let mapsBefore = Set(SystemCall.allIDs(of: .map))
        var created: [(KernelObjectKind, UInt32)] = []
        var loadedCount = 0, rejectedCount = 0
        for cycle in 0..<1_000 {
            if cycle % 10 == 9 {
                let maps = Set(SystemCall.allIDs(of: .map)), btfs = Set(SystemCall.allIDs(of: .btf))
                do throws(BPFError) {
                    _ = try LoadedObject.load(contentsOf: oob)
                    Issue.record("err_oob.o loaded")
                } catch {
                    #expect(error.code == .verifier)
                    rejectedCount += 1
                }
                created += Self.newIDs(.map, since: maps, names: ["small"]).map { (.map, $0) }
                created += Self.newIDs(.btf, since: btfs, btfSizes: sizes).map { (.btf, $0) }
            } else {
                let loaded = try LoadedObject.load(contentsOf: hello)
                #expect(loaded.programs.count == 1 && loaded.maps.count == 1)
                created += try Self.allIDs(of: loaded)
                loadedCount += 1
            }
        }
        #expect(loadedCount == 900 && rejectedCount == 100)
        #expect(created.filter { $0.0 == .program }.count == 900)
        #expect(created.filter { $0.0 == .btf }.count >= 900)

        var remaining: [(KernelObjectKind, UInt32)] = []
        let freed = Support.eventually(within: 2) {
            remaining = created.filter { Support.kernelHas($0.0, id: $0.1) }
            return remaining.isEmpty
        }
        #expect(freed, "still in the kernel after 1,000 cycles: \(remaining.prefix(20).map { "\($0.0) \($0.1)" })")

        var left: [String] = []
        let closed = Support.eventually(within: 2) {
            left = Self.leftoverDescriptors(since: descriptorsBefore, btfSizes: sizes)
            return left.isEmpty
        }
        #expect(closed, "descriptors left open:\n\(left.prefix(20).joined(separator: "\n"))")
        #expect(Self.newIDs(.program, since: programsBefore, names: Self.programNames).isEmpty)
        #expect(Self.newIDs(.map, since: mapsBefore, names: Self.mapNames).isEmpty)

        // The plain count: exact when no other test of this process runs at the same time.
        let exact = Support.eventually(within: 2) { Support.openDescriptors().count == descriptorsBefore.count }
        if !exact {
            print("note: descriptors \(descriptorsBefore.count) -> \(Support.openDescriptors().count) (none of them the loader's: other tests are running)")
        }
    }

    /// A program and a map kept past their LoadedObject stay alive (each holds its descriptor); releasing
    /// the last reference frees them and closes every descriptor of the load.
    @Test func objectsLiveAsLongAsTheirReferences() throws {
        try Support.requireRoot()
        let descriptorsBefore = Support.openDescriptors()
        var program: Program?
        var map: Map?
        var ids: (programs: [UInt32], maps: [UInt32]) = ([], [])
        do {
            let loaded = try LoadedObject.load(contentsOf: Support.fixture("xdpstats.o"))
            ids = try Support.ids(of: loaded)
            program = loaded.programs.first
            map = loaded.maps.first
        }
        #expect(ids.programs.allSatisfy { Support.kernelHas(.program, id: $0) })
        #expect(ids.maps.allSatisfy { Support.kernelHas(.map, id: $0) })
        // The frame's IPv4 source is 0.0.0.0: the program counts it in src_stats, read through the map.
        #expect(try program.map { try Support.run($0) } == 2, "XDP_PASS")
        let counts = try map?.lookup(key: [0, 0, 0, 0])
        #expect(counts?.prefix(8) == [1, 0, 0, 0, 0, 0, 0, 0], "one packet from 0.0.0.0: \(counts ?? [])")
        program = nil
        map = nil
        #expect(Support.eventually {
            ids.programs.allSatisfy { !Support.kernelHas(.program, id: $0) } && ids.maps.allSatisfy { !Support.kernelHas(.map, id: $0) }
        }, "released objects are freed")
        #expect(Support.eventually { Self.leftoverDescriptors(since: descriptorsBefore, btfSizes: []).isEmpty })
    }
}
