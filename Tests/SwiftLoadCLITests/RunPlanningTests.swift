import BPFObject
import BTF
import Testing
import TestSupport
@testable import SwiftLoadCLI

/// The run command's offline parts: which program each `--attach` goes to (AttachPlan), and how maps are
/// drawn (MapDisplay), without a kernel.
@Suite struct RunPlanningTests {
    func spec(_ name: String) throws -> ObjectSpec {
        try ObjectSpec(contentsOf: TestPaths.fixtures + "/" + name)
    }

    func plan(_ object: String, _ requests: [String], only: Set<String>? = nil) throws -> (AttachPlan, ObjectSpec) {
        var spec = try spec(object)
        let parsed = try requests.map { try AttachRequest(parsing: $0) }
        let plan = try AttachPlan.make(parsed, spec: &spec, onlyPrograms: only)
        return (plan, spec)
    }

    @Test func withoutRequestsEveryProgramThatNamesItsTarget() throws {
        let (plan, _) = try plan("attach.o", [])
        let attached = Dictionary(uniqueKeysWithValues: plan.steps.map { ($0.program, "\($0.target)") })
        #expect(attached["on_tracepoint"] == "tracepoint/syscalls/sys_enter_getpid")
        #expect(attached["on_tp_alias"] == "tracepoint/syscalls/sys_exit_getpid")
        #expect(attached["on_raw_tp"] == "raw_tp/sys_enter")
        #expect(attached["on_iter_task"] == "iter/task")
        #expect(attached["on_uprobe_path"] == "uprobe//proc/self/exe:swift_load_uprobe_target")
        #expect(attached["on_raw_tp_exit_optional"] == nil, "`?` sections are not loaded unless asked for")
        let skipped = Set(plan.skipped.map(\.program))
        #expect(skipped.isSuperset(of: ["on_xdp", "on_tcx_ingress", "on_socket", "on_uprobe", "on_perf_event"]))
        #expect(plan.skipped.first { $0.program == "on_xdp" }?.reason.contains("xdp/IFNAME") == true)
    }

    @Test func theOneProgramOfTheKindTakesTheSpec() throws {
        let (plan, _) = try plan("attach.o", ["xdp/lo", "tcx/egress/lo"])
        #expect(plan.steps == [AttachPlan.Step(program: "on_xdp", target: .xdp(interface: "lo")),
                               AttachPlan.Step(program: "on_tcx_egress", target: .tcx(direction: .egress, interface: "lo"))])
    }

    @Test func anExactSectionMatchWinsAndOtherwiseSeveralIsAnError() throws {
        let (plan, _) = try plan("attach.o", ["tracepoint/syscalls/sys_enter_getpid"])
        #expect(plan.steps.map(\.program) == ["on_tracepoint"])
        #expect(throws: AttachPlan.Failure.self) { try self.plan("attach.o", ["tracepoint/syscalls/sys_enter_close"]) }
        do {
            _ = try self.plan("attach.o", ["tracepoint/syscalls/sys_enter_close"])
        } catch {
            #expect("\(error)".contains("several programs could take it (on_tracepoint, on_tp_alias)"))
            #expect("\(error)".contains("PROGRAM=tracepoint/syscalls/sys_enter_close"))
        }
    }

    @Test func namedProgramsAreCheckedAndLoadedOnDemand() throws {
        let (plan, spec) = try plan("attach.o", ["on_raw_tp_exit_optional=raw_tp/sys_exit"])
        #expect(plan.steps.map(\.program) == ["on_raw_tp_exit_optional"])
        #expect(spec.program(named: "on_raw_tp_exit_optional")?.autoload == true)
        #expect(throws: AttachPlan.Failure.self) { try self.plan("attach.o", ["nope=xdp/lo"]) }
        #expect(throws: AttachPlan.Failure.self) { try self.plan("attach.o", ["on_xdp=tracepoint/a/b"]) }
        #expect(throws: AttachPlan.Failure.self) { try self.plan("execcount.o", ["kprobe/do_nanosleep"]) }
        #expect(throws: AttachPlan.Failure.self) { try self.plan("attach.o", ["xdp/lo"], only: ["on_socket"]) }
    }

    /// Probes share a program type: a uprobe program takes a uprobe target given on the command line.
    @Test func probesTakeEachOthersTargets() throws {
        let (plan, _) = try plan("attach.o", ["on_uprobe=uprobe//bin/true:main"])
        #expect(plan.steps.map(\.program) == ["on_uprobe"])
    }

    /// Targets the kernel fixes at load time are written into the spec before loading.
    @Test func loadTimeTargetsEditTheSection() throws {
        let (plan, spec) = try plan("attach.o", ["tp_btf/sched_process_fork"])
        #expect(plan.steps.map(\.program) == ["on_tp_btf"])
        let program = try #require(spec.program(named: "on_tp_btf"))
        #expect(program.sectionName == "tp_btf/sched_process_fork")
        #expect(program.attachTarget == .btfTracepoint(name: "sched_process_fork"))
    }

    @Test func nothingToAttachSaysWhatToDo() throws {
        #expect(throws: AttachPlan.Failure.self) { try self.plan("xdpstats.o", []) }
    }

    // MARK: Map display

    @Test func log2HistogramBars() {
        let lines = MapDisplay.histogramLines([0, 4, 8, 2], indent: "")
        #expect(lines.count == 5)
        #expect(lines[0].hasSuffix("value : count     distribution"))
        #expect(lines[1].hasPrefix("                  0 -> 1 : 0         |"))
        #expect(lines[2] == "                  2 -> 3 : 4         |********************                    |")
        #expect(lines[3] == "                  4 -> 7 : 8         |****************************************|")
        #expect(lines[4].hasPrefix("                 8 -> 15 : 2         |**********"))
        #expect(MapDisplay.histogramLines([0, 0], indent: "  ") == ["  (empty histogram)"])
    }

    @Test func slotsStructIsAHistogram() {
        let hist = BTFValue.structure([BTFField(name: "slots", value: .array([.uint(1), .uint(0), .uint(3)]))])
        #expect(MapDisplay.slotHistogram(hist) == [1, 0, 3])
        let other = BTFValue.structure([BTFField(name: "count", value: .array([.uint(1)]))])
        #expect(MapDisplay.slotHistogram(other) == nil)
        #expect(MapDisplay.slotHistogram(.uint(3)) == nil)
    }
}
