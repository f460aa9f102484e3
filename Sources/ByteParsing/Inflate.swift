/// A DEFLATE (RFC 1951) and gzip (RFC 1952) decoder, for the compressed kernel configuration
/// (`/proc/config.gz`) without linking zlib. Bounds-checked: malformed input is an ``InflateError``, and the
/// output is capped so a hostile stream cannot exhaust memory.
public enum Inflate {
    /// Output larger than this is refused (a kernel .config is a few hundred KiB).
    public static let defaultOutputLimit = 64 << 20

    /// Decompresses a gzip file's bytes (every member, concatenated).
    /// - Throws: ``InflateError`` for a bad header, a corrupt stream, a checksum mismatch, or output over
    ///   `limit`.
    public static func gunzip(_ input: [UInt8], limit: Int = defaultOutputLimit) throws(InflateError) -> [UInt8] {
        var output: [UInt8] = []
        var position = 0
        repeat {
            guard input.count - position >= 18, input[position] == 0x1f, input[position + 1] == 0x8b,
                  input[position + 2] == 8 else {
                throw InflateError("not a gzip stream (bad magic or method) at byte \(position)")
            }
            let flags = input[position + 3]
            var p = position + 10
            if flags & 0x04 != 0 {  // FEXTRA
                guard p + 2 <= input.count else { throw InflateError("truncated gzip header") }
                p += 2 + Int(input[p]) | Int(input[p + 1]) << 8
            }
            for flag in [UInt8(0x08), 0x10] where flags & flag != 0 {  // FNAME, FCOMMENT
                while p < input.count && input[p] != 0 { p += 1 }
                p += 1
            }
            if flags & 0x02 != 0 { p += 2 }  // FHCRC
            guard p <= input.count else { throw InflateError("truncated gzip header") }
            let start = output.count
            var reader = BitReader(input, at: p)
            try inflate(&reader, into: &output, limit: limit)
            p = reader.alignedByteOffset
            guard p + 8 <= input.count else { throw InflateError("truncated gzip trailer") }
            let crc = UInt32(input[p]) | UInt32(input[p + 1]) << 8 | UInt32(input[p + 2]) << 16 | UInt32(input[p + 3]) << 24
            guard crc == crc32(output[start...]) else { throw InflateError("gzip CRC mismatch") }
            position = p + 8
        } while position < input.count && input[position] == 0x1f
        return output
    }

    /// Decompresses a raw DEFLATE stream.
    public static func inflate(_ input: [UInt8], limit: Int = defaultOutputLimit) throws(InflateError) -> [UInt8] {
        var reader = BitReader(input, at: 0)
        var output: [UInt8] = []
        try inflate(&reader, into: &output, limit: limit)
        return output
    }

    struct BitReader {
        let bytes: [UInt8]
        var position: Int
        var bitBuffer: UInt64 = 0
        var bitCount = 0

        init(_ bytes: [UInt8], at position: Int) {
            self.bytes = bytes
            self.position = position
        }

        mutating func bits(_ count: Int) throws(InflateError) -> Int {
            while bitCount < count {
                guard position < bytes.count else { throw InflateError("truncated DEFLATE stream") }
                bitBuffer |= UInt64(bytes[position]) << UInt64(bitCount)
                position += 1
                bitCount += 8
            }
            let value = Int(bitBuffer & ((1 << UInt64(count)) - 1))
            bitBuffer >>= UInt64(count)
            bitCount -= count
            return value
        }

        /// Drops the bits left in the current byte.
        mutating func alignToByte() {
            bitBuffer >>= UInt64(bitCount % 8)
            bitCount -= bitCount % 8
        }

        /// The offset of the first byte not consumed, after aligning.
        var alignedByteOffset: Int { position - bitCount / 8 }
    }

    /// Canonical Huffman decoding table: counts per length and symbols in code order.
    struct Huffman {
        var counts = [Int](repeating: 0, count: 16)
        var symbols: [Int]

        init(lengths: ArraySlice<Int>) throws(InflateError) {
            symbols = [Int](repeating: 0, count: lengths.count)
            for length in lengths { counts[length] += 1 }
            counts[0] = 0
            var left = 1
            for length in 1..<16 {
                left <<= 1
                left -= counts[length]
                guard left >= 0 else { throw InflateError("over-subscribed Huffman code") }
            }
            var offsets = [Int](repeating: 0, count: 16)
            for length in 1..<15 { offsets[length + 1] = offsets[length] + counts[length] }
            for (symbol, length) in lengths.enumerated() where length != 0 {
                symbols[offsets[length]] = symbol
                offsets[length] += 1
            }
        }

        func decode(_ reader: inout BitReader) throws(InflateError) -> Int {
            var code = 0
            var first = 0
            var index = 0
            for length in 1..<16 {
                code |= try reader.bits(1)
                let count = counts[length]
                if code - count < first { return symbols[index + (code - first)] }
                index += count
                first += count
                first <<= 1
                code <<= 1
            }
            throw InflateError("invalid Huffman code")
        }
    }

    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
                             131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
                               1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12,
                                12, 13, 13]
    static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    static func inflate(_ reader: inout BitReader, into output: inout [UInt8], limit: Int) throws(InflateError) {
        var last = false
        while !last {
            last = try reader.bits(1) == 1
            switch try reader.bits(2) {
            case 0:
                reader.alignToByte()
                let length = try reader.bits(16)
                let complement = try reader.bits(16)
                guard length == ~complement & 0xFFFF else { throw InflateError("stored block length check failed") }
                guard output.count + length <= limit else { throw InflateError("output exceeds \(limit) bytes") }
                for _ in 0..<length { output.append(UInt8(try reader.bits(8))) }
            case 1:
                var lengths = [Int](repeating: 8, count: 288)
                for i in 144..<256 { lengths[i] = 9 }
                for i in 256..<280 { lengths[i] = 7 }
                let literal = try Huffman(lengths: lengths[...])
                let distance = try Huffman(lengths: [Int](repeating: 5, count: 30)[...])
                try block(&reader, literal, distance, &output, limit)
            case 2:
                let literalCount = try reader.bits(5) + 257
                let distanceCount = try reader.bits(5) + 1
                let codeCount = try reader.bits(4) + 4
                var codeLengths = [Int](repeating: 0, count: 19)
                for i in 0..<codeCount { codeLengths[codeLengthOrder[i]] = try reader.bits(3) }
                let lengthCode = try Huffman(lengths: codeLengths[...])
                var lengths: [Int] = []
                while lengths.count < literalCount + distanceCount {
                    let symbol = try lengthCode.decode(&reader)
                    switch symbol {
                    case 0..<16: lengths.append(symbol)
                    case 16:
                        guard let previous = lengths.last else { throw InflateError("repeat with no previous length") }
                        lengths += [Int](repeating: previous, count: 3 + (try reader.bits(2)))
                    case 17: lengths += [Int](repeating: 0, count: 3 + (try reader.bits(3)))
                    default: lengths += [Int](repeating: 0, count: 11 + (try reader.bits(7)))
                    }
                }
                guard lengths.count == literalCount + distanceCount else { throw InflateError("too many code lengths") }
                let literal = try Huffman(lengths: lengths[0..<literalCount])
                let distance = try Huffman(lengths: lengths[literalCount...])
                try block(&reader, literal, distance, &output, limit)
            default:
                throw InflateError("invalid DEFLATE block type")
            }
        }
    }

    static func block(_ reader: inout BitReader, _ literal: Huffman, _ distance: Huffman, _ output: inout [UInt8],
                      _ limit: Int) throws(InflateError) {
        while true {
            let symbol = try literal.decode(&reader)
            if symbol < 256 {
                guard output.count < limit else { throw InflateError("output exceeds \(limit) bytes") }
                output.append(UInt8(symbol))
                continue
            }
            if symbol == 256 { return }
            let index = symbol - 257
            guard index < lengthBase.count else { throw InflateError("invalid length symbol") }
            let length = lengthBase[index] + (try reader.bits(lengthExtra[index]))
            let distanceSymbol = try distance.decode(&reader)
            guard distanceSymbol < distanceBase.count else { throw InflateError("invalid distance symbol") }
            let back = distanceBase[distanceSymbol] + (try reader.bits(distanceExtra[distanceSymbol]))
            guard back <= output.count else { throw InflateError("distance reaches before the start of the output") }
            guard output.count + length <= limit else { throw InflateError("output exceeds \(limit) bytes") }
            let start = output.count - back
            for i in 0..<length { output.append(output[start + i]) }
        }
    }

    static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 (the gzip trailer's checksum).
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

/// A malformed or oversized compressed stream.
public struct InflateError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var description: String
    init(_ description: String) { self.description = description }
}
