import BPFObject
import CBPF
import Foundation
import SystemPackage
import Testing
import TestSupport
@testable import BPF

/// `perf_event` programs on software sampling events, one link per online CPU.
@Suite struct PerfEventAttachTests {
    /// Spins the calling thread for `milliseconds` (the CPU must be busy for cpu-clock samples).
    static func busyLoop(milliseconds: Int) {
        let end = DispatchTime.now().uptimeNanoseconds + UInt64(milliseconds) * 1_000_000
        var spins: UInt64 = 0
        while DispatchTime.now().uptimeNanoseconds < end { spins &+= 1 }
        withExtendedLifetime(spins) {}
    }

    /// cpu-clock at 999 Hz while busy for 200 ms: samples counted; after close, none.
    @Test func cpuClockSamplesUntilClosed() throws {
        try AttachKit.requireRoot()
        let object = try AttachFixture.load(["on_perf_event"])
        let program = try AttachFixture.program(object, "on_perf_event")
        let links = try program.attachPerfEvent(event: "cpu-clock", frequency: 999)
        let cpus = try OnlineCPUs.cpus()
        #expect(links.count == cpus.count)
        #expect(links.map(\.target) == cpus.map { "perf_event/cpu-clock (CPU \($0))" })
        #expect(links.allSatisfy { $0.kind == .bpfLink })
        let infos = try links.map { try $0.info() }
        #expect(infos.allSatisfy { $0.type == .perfEvent })

        Self.busyLoop(milliseconds: 200)
        // 999 Hz for 0.2 s on the busy CPU is about 200 samples; ask for a tenth.
        #expect(AttachKit.eventually { ((try? AttachFixture.hits(object, AttachFixture.perfEvent)) ?? 0) >= 20 })

        for link in links { link.close() }
        #expect(AttachKit.eventually { infos.allSatisfy { !AttachFixture.linkExists($0.id) } })
        let after = try AttachFixture.hits(object, AttachFixture.perfEvent)
        Self.busyLoop(milliseconds: 100)
        #expect(try AttachFixture.hits(object, AttachFixture.perfEvent) == after)
    }

    /// A perf link is a BPF link: pinned, it keeps sampling after the object closes it.
    @Test func pinnedPerfLinkKeepsSampling() throws {
        try AttachKit.requireRoot()
        try BPFFileSystem.prepare("/sys/fs/bpf")
        let object = try AttachFixture.load(["on_perf_event"])
        let links = try AttachFixture.program(object, "on_perf_event").attachPerfEvent(event: "task-clock", frequency: 499)
        let path = "/sys/fs/bpf/swift_load_perf_link_\(getpid())"
        let id = try links[0].info().id
        try links[0].pin(at: path)
        defer { unlink(path) }
        for link in links { link.close() }
        #expect(AttachFixture.linkExists(id))
        let reopened = try Link.open(pinnedAt: path)
        try reopened.unpin()
        reopened.close()
        #expect(AttachKit.eventually { !AttachFixture.linkExists(id) })
    }

    @Test func unknownEventListsTheKnownOnes() throws {
        try AttachKit.requireRoot()
        let object = try AttachFixture.load(["on_perf_event"])
        let program = try AttachFixture.program(object, "on_perf_event")
        do {
            _ = try program.attachPerfEvent(event: "cpu-clocks")
            Issue.record("an unknown event attached")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "cannot attach program on_perf_event to perf_event/cpu-clocks: unknown perf event \"cpu-clocks\"; known events: cpu-clock, task-clock, page-faults, context-switches, cpu-migrations, cycles, instructions")
        }
        #expect(throws: BPFError.self) { try program.attachPerfEvent(event: "cpu-clock", frequency: 0) }
    }

    /// Hardware events need the CPU's PMU, which virtual machines often lack: then the error says so.
    @Test func hardwareEventsNeedAPMU() throws {
        try AttachKit.requireRoot()
        let object = try AttachFixture.load(["on_perf_event"])
        let program = try AttachFixture.program(object, "on_perf_event")
        let hasPMU = ["cpu", "cpu_core", "cpu_atom"].contains { access("/sys/bus/event_source/devices/\($0)", F_OK) == 0 }
        do {
            let links = try program.attachPerfEvent(event: "cycles", frequency: 99)
            #expect(hasPMU, "cycles attached without a cpu PMU")
            for link in links { link.close() }
        } catch {
            #expect(!hasPMU, "\(error)")
            #expect(error.code == .unsupported)
            #expect(error.message.hasPrefix("cannot attach program on_perf_event to perf_event/cycles (CPU 0): this machine has no hardware PMU for cycles (perf_event_open: "))
            #expect(error.message.hasSuffix("software events work without one: cpu-clock, task-clock, page-faults, context-switches, cpu-migrations"))
        }
    }

    @Test func frequencyAboveTheKernelsLimitIsNamed() throws {
        try AttachKit.requireRoot()
        let limit = try #require(Program.maximumSampleRate())
        let object = try AttachFixture.load(["on_perf_event"])
        let program = try AttachFixture.program(object, "on_perf_event")
        do {
            let links = try program.attachPerfEvent(event: "cpu-clock", frequency: limit + 1)
            for link in links { link.close() }
            Issue.record("sampled above perf_event_max_sample_rate")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "cannot attach program on_perf_event to perf_event/cpu-clock (CPU 0): \(limit + 1) Hz is above kernel.perf_event_max_sample_rate (\(limit) Hz) (perf_event_open: EINVAL)")
        }
    }

    /// All or nothing: when a later CPU fails, the links made for the earlier ones are closed.
    @Test func failureOnALaterCPUClosesTheEarlierLinks() throws {
        try AttachKit.requireRoot()
        let object = try AttachFixture.load(["on_perf_event"])
        let program = try AttachFixture.program(object, "on_perf_event")
        let programID = try program.info().id
        func linksOfProgram() -> Int {
            SystemCall.allIDs(of: .link).filter { id in
                guard let link = try? Link.open(id: id), let info = try? link.info() else { return false }
                return info.programID == programID
            }.count
        }
        do {
            _ = try program.attachPerfEvent(event: "cpu-clock", frequency: 99, cpus: [0, 4095])
            Issue.record("attached on CPU 4095")
        } catch {
            #expect(error.message.contains("(CPU 4095)"), "\(error)")
        }
        #expect(AttachKit.eventually { linksOfProgram() == 0 })
    }

    @Test func wrongProgramTypeIsRefused() throws {
        try AttachKit.requireRoot()
        let object = try AttachFixture.load(["on_xdp"])
        let xdp = try AttachFixture.program(object, "on_xdp")
        do {
            _ = try xdp.attachPerfEvent()
            Issue.record("an XDP program attached to a perf event")
        } catch {
            #expect(error.message == "cannot attach program on_xdp to perf_event/cpu-clock: it is a xdp program, and sampling events take perf_event programs (SEC(\"perf_event\"))")
        }
    }
}

/// Sampling attributes, event names and messages, without a kernel.
@Suite struct PerfEventSamplingAttributeTests {
    @Test func samplingAttribute() {
        let attr = Program.samplingAttribute(SamplingEvent(name: "cpu-clock")!, frequency: 999)
        #expect(attr.type == PERF_TYPE_SOFTWARE.rawValue)
        #expect(attr.config == UInt64(PERF_COUNT_SW_CPU_CLOCK.rawValue))
        #expect(attr.sample_freq == 999)
        #expect(attr.freq == 1)
        #expect(attr.disabled == 0)
        #expect(attr.size == UInt32(MemoryLayout<perf_event_attr>.size))
        let cycles = Program.samplingAttribute(SamplingEvent(name: "cycles")!, frequency: 99)
        #expect(cycles.type == PERF_TYPE_HARDWARE.rawValue)
        #expect(cycles.config == UInt64(PERF_COUNT_HW_CPU_CYCLES.rawValue))
    }

    @Test func eventNames() {
        #expect(SamplingEvent(name: "cs")?.name == "context-switches")
        #expect(SamplingEvent(name: "faults")?.config == UInt64(PERF_COUNT_SW_PAGE_FAULTS.rawValue))
        #expect(SamplingEvent(name: "instructions")?.isHardware == true)
        #expect(SamplingEvent(name: "cpu-clock")?.isHardware == false)
        #expect(SamplingEvent(name: "nope") == nil)
    }

    @Test func refusalMessages() {
        let base = BPFError(errno: .noSuchFileOrDirectory, command: nil, "opening the perf event")
        let noPMU = Program.samplingRefusal(base, program: "p", target: "perf_event/instructions (CPU 1)",
                                            event: SamplingEvent(name: "instructions")!, frequency: 99, maximumRate: { 1000 })
        #expect(noPMU.code == .unsupported)
        #expect(noPMU.message == "cannot attach program p to perf_event/instructions (CPU 1): this machine has no hardware PMU for instructions (perf_event_open: ENOENT); software events work without one: cpu-clock, task-clock, page-faults, context-switches, cpu-migrations")
        let tooFast = Program.samplingRefusal(BPFError(errno: .invalidArgument, command: nil, "x"), program: "p", target: "t",
                                              event: SamplingEvent(name: "cpu-clock")!, frequency: 5000, maximumRate: { 1000 })
        #expect(tooFast.message == "cannot attach program p to t: 5000 Hz is above kernel.perf_event_max_sample_rate (1000 Hz) (perf_event_open: EINVAL)")
        let other = Program.samplingRefusal(BPFError(errno: .invalidArgument, command: nil, "x"), program: "p", target: "t",
                                            event: SamplingEvent(name: "cpu-clock")!, frequency: 99, maximumRate: { 1000 })
        #expect(other.message == "x: EINVAL (Invalid argument)")
    }

    @Test func onlineCPUsAreRead() throws {
        let cpus = try OnlineCPUs.cpus()
        #expect(!cpus.isEmpty)
        #expect(Set(cpus).isSubset(of: Set(try PossibleCPUs.cpus())))
    }
}
