import ArgumentParser

/// `swift-load OBJ [--attach [PROGRAM=]SPEC]... [--trace] [--maps SECONDS] [--event-type TYPE]
/// [--duration SECONDS] [--json]`: load, attach, stream what the programs produce, detach on Ctrl-C.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Load an object, attach its programs and show what they produce (the default command).",
        discussion: """
            Attaches each --attach SPEC (libbpf's section vocabulary: tracepoint/CAT/NAME, raw_tp/NAME, \
            tp_btf/NAME, kprobe/FN, uprobe/PATH:SYMBOL[+OFF], iter/NAME, xdp/IFNAME, tcx/ingress/IFNAME, \
            cgroup/ATTACH:PATH, socket/IFNAME, perf_event/EVENT, ...), or without any, every program whose \
            section names its target. Then streams ring buffer and perf buffer records, lost-record counts, \
            bpf_printk lines (--trace) and the maps (--maps), until SIGINT, SIGTERM or --duration: then \
            detaches, unloads (pinned maps stay) and prints a summary. See Docs/commands/run.md.
            """)

    @Argument(help: "The BPF ELF object.")
    var object: String

    @Option(name: .customLong("attach"), help: ArgumentHelp("Attach PROGRAM (or the one program that fits) to SPEC; repeatable.", valueName: "[PROGRAM=]SPEC"))
    var attachments: [String] = []

    @OptionGroup var loading: LoadingOptions

    @Flag(help: "Print bpf_printk output (the kernel's trace_pipe) as it arrives.")
    var trace = false

    @Option(name: .customLong("maps"), help: ArgumentHelp("Print every map's entries every SECONDS.", valueName: "SECONDS"))
    var mapsInterval: Double?

    @Option(name: .customLong("event-type"), help: ArgumentHelp("Decode ring and perf buffer records as this BTF type of the object (e.g. 'struct event').", valueName: "TYPE"))
    var eventType: String?

    @Option(help: ArgumentHelp("Stop after SECONDS (default: run until SIGINT or SIGTERM).", valueName: "SECONDS"))
    var duration: Double?

    @Flag(help: "Print one JSON object per line.")
    var json = false

    /// The parsed command line as a plain value.
    var options: RunOptions {
        RunOptions(object: object, attachments: attachments, loading: loading.choices, trace: trace,
                   mapsInterval: mapsInterval, eventType: eventType, duration: duration, json: json)
    }

    func validate() throws {
        if let problem = options.problem { throw ValidationError(problem) }
    }

    func run() throws {
        try options.run()
    }
}
