import BPF
import BPFObject
import BTF

/// What the run command's `--maps SECONDS` prints for one map: its entries decoded through BTF (strings for
/// char arrays, numbers, nested structs), and log2 histograms drawn as bars the way the classic bcc tools
/// (`biolatency`, `runqlat`) draw them.
enum MapDisplay {
    /// Whether a map has entries worth printing: not ring buffers, perf event arrays, program arrays or
    /// keyless maps (queues, stacks, bloom filters: reading them consumes or cannot list them), and not
    /// maps read-only to programs (`.rodata`, `.kconfig`: frozen at load, they never change).
    static func isShown(_ map: Map) -> Bool {
        if map.keySize == 0 || map.type.isRingBuffer { return false }
        if map.type == .perfEventArray || map.type == .progArray { return false }
        return map.flags & MapFlag.readOnlyForPrograms == 0
    }

    /// The entries to show: every entry of hash-like maps; of arrays, the entries whose value is not all
    /// zero (an array always has every index, most of them unused), with how many were left out.
    private static func entries(of map: Map) throws(BPFError) -> (entries: [(key: [UInt8], value: [UInt8])], zeroEntriesLeftOut: Int) {
        let all = try map.entries().collect()
        guard map.type == .array || map.type == .percpuArray else { return (all, 0) }
        let nonZero = all.filter { !$0.value.allSatisfy { $0 == 0 } }
        return (nonZero, all.count - nonZero.count)
    }

    /// One entry as shown: key and value decoded through BTF (hex bytes without it). A per-CPU map's value
    /// is the sum over its CPUs when its leaves are numbers (``BTFValue/sum(of:)``), with the CPUs' own
    /// values in `perCPU`; otherwise it is the array of the CPUs' values.
    struct Shown {
        var key: BTFValue
        var value: BTFValue
        var perCPU: [BTFValue]?
    }

    /// The entries of ``entries(of:)``, decoded; per-CPU values summed where they can be.
    static func shownEntries(of map: Map) throws(BPFError) -> (entries: [Shown], zeroEntriesLeftOut: Int) {
        let listed = try entries(of: map)
        let shown = listed.entries.map { entry -> Shown in
            let key = (try? map.decodeKey(entry.key)) ?? .bytes(entry.key)
            let value = (try? map.decodeValue(entry.value)) ?? .bytes(entry.value)
            if map.type.isPerCPU, case .array(let cpus) = value, let sum = BTFValue.sum(of: cpus) {
                return Shown(key: key, value: sum, perCPU: cpus)
            }
            return Shown(key: key, value: value, perCPU: nil)
        }
        return (shown, listed.zeroEntriesLeftOut)
    }

    /// One map as text lines: a header, then `key => value` per entry, or histograms.
    static func textLines(_ map: Map) -> [String] {
        let listed: (entries: [Shown], zeroEntriesLeftOut: Int)
        do { listed = try shownEntries(of: map) } catch {
            return ["map \(map.name): cannot read entries: \(error.message)"]
        }
        var notes = ["\(map.type)", "\(listed.entries.count) entries"]
        if listed.zeroEntriesLeftOut > 0 { notes.append("\(listed.zeroEntriesLeftOut) zero entries not shown") }
        if let cpus = listed.entries.first(where: { $0.perCPU != nil })?.perCPU?.count {
            notes.append("values summed over \(cpus) CPUs")
        }
        var lines = ["map \(map.name) (\(notes.joined(separator: ", "))):"]
        if let counts = keyedHistogram(map, listed.entries) {
            lines += histogramLines(counts, indent: "  ")
            return lines
        }
        for entry in listed.entries {
            if let slots = slotHistogram(entry.value) {
                lines.append("  \(entry.key.text):")
                lines += histogramLines(slots, indent: "    ")
            } else {
                lines.append("  \(entry.key.text) => \(entry.value.text)")
            }
        }
        return lines
    }

    /// One map as the run command's JSON line: `{"type": "map", "name", "entries": [{"key", "value"}]}`;
    /// an entry of a per-CPU map whose values were summed also has `"per_cpu"`: the CPUs' values.
    static func json(_ map: Map) -> JSON {
        var fields: [(String, JSON)] = [("type", .string("map")), ("name", .string(map.name))]
        do {
            let listed = try shownEntries(of: map)
            let entries: [JSON] = listed.entries.map { entry in
                var members: [(String, JSON)] = [("key", .serializedValue(entry.key.json)), ("value", .serializedValue(entry.value.json))]
                if let cpus = entry.perCPU { members.append(("per_cpu", .serializedValue(BTFValue.array(cpus).json))) }
                return .object(members)
            }
            fields.append(("entries", .array(entries)))
            if listed.zeroEntriesLeftOut > 0 { fields.append(("zero_entries_not_shown", .int(Int64(listed.zeroEntriesLeftOut)))) }
        } catch {
            fields.append(("entries", .array([])))
            fields.append(("error", .string(error.message)))
        }
        return .object(fields)
    }

    // MARK: Histograms

    /// A map that is one log2 histogram: its name says `hist`, its keys are slot numbers and its values
    /// counts (bcc's `BPF_HISTOGRAM(dist)` with `bpf_log2l` keys). Returns the counts by slot.
    static func keyedHistogram(_ map: Map, _ entries: [Shown]) -> [UInt64]? {
        guard map.name.lowercased().contains("hist"), !entries.isEmpty else { return nil }
        var counts: [UInt64] = []
        for entry in entries {
            guard let slot = integer(entry.key), slot < 128, let count = integer(entry.value) else { return nil }
            if counts.count <= Int(slot) { counts += [UInt64](repeating: 0, count: Int(slot) + 1 - counts.count) }
            counts[Int(slot)] += count
        }
        return counts
    }

    /// A value that is a histogram by itself: a struct whose only member is an integer array named
    /// `slots` (libbpf-tools' `struct hist { __u32 slots[MAX_SLOTS]; }`).
    static func slotHistogram(_ value: BTFValue) -> [UInt64]? {
        guard case .structure(let fields) = value, fields.count == 1, fields[0].name == "slots",
              case .array(let elements) = fields[0].value else { return nil }
        var counts: [UInt64] = []
        for element in elements {
            guard let count = integer(element) else { return nil }
            counts.append(count)
        }
        return counts
    }

    /// The bars: one line per slot up to the last non-empty one, `low -> high : count |****|`, slot `i`
    /// holding values from 2^i to 2^(i+1)-1 (slot 0: 0 and 1), 40 columns for the largest count.
    static func histogramLines(_ counts: [UInt64], indent: String) -> [String] {
        guard let last = counts.lastIndex(where: { $0 != 0 }) else { return [indent + "(empty histogram)"] }
        let largest = counts.max() ?? 1
        let width = 40
        var lines = [indent + pad("value", 24, right: true) + " : count     distribution"]
        for slot in 0...last {
            let high: UInt64 = slot >= 63 ? .max : (1 << UInt64(slot + 1)) - 1
            let low: UInt64 = slot == 0 ? 0 : 1 << UInt64(slot)
            let stars = largest == 0 ? 0 : Int((Double(counts[slot]) / Double(largest) * Double(width)).rounded(.down))
            let bar = String(repeating: "*", count: stars) + String(repeating: " ", count: width - stars)
            lines.append(indent + pad("\(low) -> \(high)", 24, right: true) + " : " + pad("\(counts[slot])", 9, right: false) + " |\(bar)|")
        }
        return lines
    }

    private static func pad(_ text: String, _ width: Int, right: Bool) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.count))
        return right ? padding + text : text + padding
    }

    private static func integer(_ value: BTFValue) -> UInt64? {
        switch value {
        case .uint(let number): return number
        case .int(let number): return number >= 0 ? UInt64(number) : nil
        default: return nil
        }
    }
}
