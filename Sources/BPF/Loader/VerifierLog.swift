import BPFObject

/// What the loader does with a verifier log: find the part a person needs, and explain instructions that
/// CO-RE poisoned (libbpf's `fixup_verifier_log`), since "invalid func unknown#195896080" says nothing.
public enum VerifierLog {
    /// libbpf's size ceiling for a log it allocates (`BPF_LOG_BUF_SIZE`, `UINT32_MAX >> 8`): 16 MiB.
    public static let maximumSize = Int(UInt32.max >> 8)
    /// The first log buffer tried; doubled (or set to the kernel's `log_true_size`) on `ENOSPC`.
    static let initialSize = 64 * 1024

    /// The immediate CO-RE writes into a poisoned instruction (`call 0xbad2310`), as the verifier prints it.
    static let poisonedCall = "unknown#195896080"

    /// The last `count` lines that matter: the failing instruction and the verifier's verdict, without the
    /// trailing statistics (`processed N insns ...`, `verification time ...`).
    public static func relevantTail(_ log: String, lines count: Int = 20) -> [String] {
        var lines = log.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        while let last = lines.last, last.hasPrefix("processed ") || last.hasPrefix("verification time")
            || last.hasPrefix("stack depth") || last.hasPrefix("mark_precise") {
            lines.removeLast()
        }
        return Array(lines.suffix(count))
    }

    /// Rewrites every poisoned-call pair of lines (`N: (85) call unknown#195896080` and
    /// `invalid func unknown#195896080`) into `N: <invalid CO-RE relocation>` and
    /// `failed to resolve CO-RE relocation <kind> [id] struct x.field (…)`, with the source line when the
    /// program has line info. Returns the log unchanged when nothing is poisoned.
    ///
    /// - Parameter explanation: for a final instruction index, the relocation's description (kind and local
    ///   spec) and source line, if the instruction was poisoned by CO-RE.
    public static func explainingPoisonedRelocations(_ log: String,
                                                     explanation: (Int) -> (relocation: String, source: String?)?) -> String {
        guard log.contains(poisonedCall) else { return log }
        var output: [Substring] = []
        var rewritten: [String] = []
        var lines = log.split(separator: "\n", omittingEmptySubsequences: false)[...]
        while let line = lines.popFirst() {
            guard line.contains("call " + poisonedCall), let index = Int(line.prefix { $0.isNumber }),
                  let why = explanation(index) else {
                if line.hasPrefix("invalid func " + poisonedCall), !rewritten.isEmpty { continue }
                output.append(line)
                continue
            }
            var text = "\(index): <invalid CO-RE relocation>\nfailed to resolve CO-RE relocation \(why.relocation)"
            if let source = why.source { text += "\n; " + source }
            rewritten.append(text)
            output.append(Substring(text))
        }
        return output.joined(separator: "\n")
    }
}
