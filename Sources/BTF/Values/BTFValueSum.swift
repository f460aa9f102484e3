extension BTFValue {
    /// The member-by-member sum of values of one shape, or nil when they cannot be added: what a per-CPU
    /// map's counters add up to over every CPU (bcc's `.sum()`, the totals `bpftool` leaves to the reader).
    ///
    /// Integers add (wrapping, as the kernel's counters do; 128-bit ones with carry), floats add, and
    /// structures and arrays add member by member. Anything else (strings, chars, booleans, enum values,
    /// pointers, raw bytes, cut arrays, unions, whose members overlap) is not a quantity, so a tree holding
    /// one has no sum; nor do values of different shapes. One value sums to itself when it is made of
    /// numbers; none gives nil.
    public static func sum(of values: [BTFValue]) -> BTFValue? {
        guard var total = values.first, total.isSummable else { return nil }
        for value in values.dropFirst() {
            guard let next = total.adding(value) else { return nil }
            total = next
        }
        return total
    }

    /// Whether every leaf is a number.
    private var isSummable: Bool {
        switch self {
        case .int, .uint, .int128, .float, .float32: return true
        case .array(let elements): return elements.allSatisfy(\.isSummable)
        case .structure(let fields): return fields.allSatisfy(\.value.isSummable)
        default: return false
        }
    }

    private func adding(_ other: BTFValue) -> BTFValue? {
        switch (self, other) {
        case let (.int(a), .int(b)): return .int(a &+ b)
        case let (.uint(a), .uint(b)): return .uint(a &+ b)
        case let (.int128(aHigh, aLow), .int128(bHigh, bLow)):
            let (low, carry) = aLow.addingReportingOverflow(bLow)
            return .int128(high: aHigh &+ bHigh &+ (carry ? 1 : 0), low: low)
        case let (.float(a), .float(b)): return .float(a + b)
        case let (.float32(a), .float32(b)): return .float32(a + b)
        case let (.array(a), .array(b)):
            guard a.count == b.count else { return nil }
            var sums: [BTFValue] = []
            sums.reserveCapacity(a.count)
            for (x, y) in zip(a, b) {
                guard let sum = x.adding(y) else { return nil }
                sums.append(sum)
            }
            return .array(sums)
        case let (.structure(a), .structure(b)):
            guard a.count == b.count else { return nil }
            var sums: [BTFField] = []
            sums.reserveCapacity(a.count)
            for (x, y) in zip(a, b) {
                guard x.name == y.name, let sum = x.value.adding(y.value) else { return nil }
                sums.append(BTFField(name: x.name, value: sum))
            }
            return .structure(sums)
        default:
            return nil
        }
    }
}
