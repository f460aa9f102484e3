import Foundation
import Testing
import TestSupport

@testable import BPFObject

/// Differential check of the section table against the system's libbpf (Debian's libbpf-dev, used as an
/// oracle only): a tiny C program calls `libbpf_prog_type_by_name` for every section name we test and every
/// pattern of our table, and the program type and expected attach type must agree.
@Suite struct SectionTableLibbpfTests {
    /// Patterns newer than Debian 12's libbpf 1.1.2, which does not know them.
    static let newerThanSystemLibbpf: Set<String> = [
        "kprobe.session+", "uprobe.multi+", "uretprobe.multi+", "uprobe.session+", "uprobe.multi.s+",
        "uretprobe.multi.s+", "uprobe.session.s+", "usdt.s+", "tc/ingress", "tc/egress", "tcx/ingress",
        "tcx/egress", "netkit/primary", "netkit/peer", "tracepoint.s+", "tp.s+", "raw_tracepoint.s+",
        "raw_tp.s+", "tp_btf.s+", "fsession+", "fsession.s+", "fsession.multi+", "fsession.multi.s+",
        "fentry.multi+", "fexit.multi+", "fentry.multi.s+", "fexit.multi.s+", "sk_skb/verdict",
        "cgroup/connect_unix", "cgroup/sendmsg_unix", "cgroup/recvmsg_unix", "cgroup/getpeername_unix",
        "cgroup/getsockname_unix", "struct_ops.s+", "netfilter",
    ]

    static let harness = """
        #include <stdio.h>
        #include <bpf/libbpf.h>
        int main(int argc, char **argv) {
            for (int i = 1; i < argc; i++) {
                enum bpf_prog_type p; enum bpf_attach_type a;
                if (libbpf_prog_type_by_name(argv[i], &p, &a) == 0) printf("%d %d\\n", (int)p, (int)a);
                else printf("none\\n");
            }
            return 0;
        }
        """

    /// Runs `executable` with `arguments`; returns its exit status and standard output.
    static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let output = try Tool.run(executable, arguments)
        return (output.status, output.stdout)
    }

    @Test func agreesWithSystemLibbpf() throws {
        let required = ProcessInfo.processInfo.environment["SWIFT_LOAD_REQUIRE_KERNEL"] == "1"
        let fm = FileManager.default
        let compiler = ["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang"].first { fm.isExecutableFile(atPath: $0) }
        let haveLibbpf =
            fm.fileExists(atPath: "/usr/include/bpf/libbpf.h")
            && ["/usr/lib/x86_64-linux-gnu/libbpf.so", "/usr/lib/aarch64-linux-gnu/libbpf.so", "/usr/lib/libbpf.so",
                "/usr/lib64/libbpf.so"].contains { fm.fileExists(atPath: $0) }
        guard let compiler, haveLibbpf else {
            if required { Issue.record("cc or libbpf-dev missing: cannot run the libbpf differential") }
            return
        }

        let dir = fm.temporaryDirectory.appendingPathComponent("swift-load-sections-\(getpid())")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        let source = dir.appendingPathComponent("harness.c")
        let binary = dir.appendingPathComponent("harness")
        try Self.harness.write(to: source, atomically: true, encoding: .utf8)
        let (status, _) = try Self.run(compiler, [source.path, "-o", binary.path, "-lbpf"])
        guard status == 0 else {
            Issue.record("compiling the libbpf harness with \(compiler) failed (status \(status))")
            return
        }

        // Every tested section, every unknown one, and each table pattern bare and with a suffix.
        var names = sectionCases.map { $0.section.hasPrefix("?") ? String($0.section.dropFirst()) : $0.section }
        names += unknownSections.filter { !$0.hasPrefix("?") && !$0.isEmpty }
        for row in SectionDefinition.table {
            names.append(String(row.prefix))
            if row.matchRule == .wordOrSlash { names.append(row.prefix + "/x") }
        }
        let (runStatus, output) = try Self.run(binary.path, names)
        #expect(runStatus == 0)
        let lines = output.split(separator: "\n")
        try #require(lines.count == names.count)

        var compared = 0
        for (name, line) in zip(names, lines) {
            let ours = SectionDefinition.find(name)
            if line == "none" {
                if let ours, Self.newerThanSystemLibbpf.contains(ours.pattern) { continue }
                #expect(ours == nil, "libbpf does not know '\(name)', we match \(ours?.pattern ?? "")")
                compared += 1
                continue
            }
            let parts = line.split(separator: " ").compactMap { UInt32($0) }
            try #require(parts.count == 2)
            guard let ours else {
                Issue.record("libbpf knows '\(name)' (type \(parts[0])), we do not")
                continue
            }
            #expect(ours.programType.rawValue == parts[0], "'\(name)': libbpf says program type \(ProgramType(rawValue: parts[0]))")
            #expect(ours.expectedAttachTypeRawValue == parts[1], "'\(name)': libbpf says attach type \(AttachType(rawValue: parts[1]))")
            compared += 1
        }
        #expect(compared > 150)
    }
}
