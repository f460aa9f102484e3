import CBPF
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One line of `trace_pipe` taken apart, as the kernel prints it with its default options:
///
/// ```
///            bash-1234    [001] d..31  5678.901234: bpf_trace_printk: Hello, World
/// ```
///
/// The task name (`<...>` when the kernel did not record it), its pid, the CPU, the latency flags
/// (irqs off, need-resched, hard/soft irq, preempt depth; empty when the `irq-info` option is off), the
/// timestamp in seconds, the event (`bpf_trace_printk` for `bpf_printk`) and the message.
public struct TraceLine: Sendable, Hashable {
    /// The task's name (`comm`), possibly with spaces or dashes; `<...>` when unknown to the kernel.
    public var task: String
    /// The thread id of the task (the kernel's `pid`).
    public var pid: Int32
    /// The thread group id, when the `record-tgid` option prints it (`(  1234)`).
    public var tgid: Int32?
    /// The CPU the line was written on.
    public var cpu: Int
    /// The latency flags (`d..31`), empty when the kernel does not print them.
    public var flags: String
    /// The timestamp, in seconds, as printed (`5678.901234`).
    public var timestamp: String
    /// The event that wrote the line (`bpf_trace_printk`), or nil when the line has no `NAME: ` part.
    public var event: String?
    /// What the event printed (for `bpf_printk`: the formatted text).
    public var message: String

    /// The timestamp as a number of seconds.
    public var seconds: Double? { Double(timestamp) }

    /// `task-pid: message`, the way the run command prints a `bpf_printk` line.
    public var summary: String { "\(task)-\(pid): \(message)" }

    /// Parses one line (without its newline). Returns nil for lines not in the kernel's format (the
    /// `CPU:N [LOST N EVENTS]` notes among them).
    public init?(_ line: String) {
        let bytes = Array(line.utf8)
        // The CPU field: the first " [digits] " after a non-blank start (a task name may hold '[' itself,
        // but not followed by digits, "]" and a blank).
        var index = 1
        var cpuStart = -1, cpuEnd = -1
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "["), bytes[index - 1] == UInt8(ascii: " ") {
                var end = index + 1
                while end < bytes.count, bytes[end] >= 48, bytes[end] <= 57 { end += 1 }
                if end > index + 1, end < bytes.count, bytes[end] == UInt8(ascii: "]"),
                   end + 1 == bytes.count || bytes[end + 1] == UInt8(ascii: " ") {
                    cpuStart = index
                    cpuEnd = end
                    break
                }
            }
            index += 1
        }
        guard cpuStart > 0, let cpu = Int(String(decoding: bytes[(cpuStart + 1)..<cpuEnd], as: UTF8.self)) else { return nil }

        // Before it: "task-pid" and, with record-tgid, "(tgid)".
        var left = Self.trimmed(bytes[..<cpuStart])
        var tgid: Int32?
        if left.last == UInt8(ascii: ")"), let open = left.lastIndex(of: UInt8(ascii: "(")) {
            let inner = Self.trimmed(left[(open + 1)..<(left.endIndex - 1)])
            tgid = Int32(String(decoding: inner, as: UTF8.self))  // "-----" when unknown: nil
            left = Self.trimmed(left[..<open])
        }
        guard let dash = left.lastIndex(of: UInt8(ascii: "-")), dash > left.startIndex,
              let pid = Int32(String(decoding: left[(dash + 1)...], as: UTF8.self)) else { return nil }
        let task = String(decoding: Self.trimmed(left[..<dash]), as: UTF8.self)

        // After it: [flags] timestamp: rest.
        var rest = bytes[(cpuEnd + 1)...]
        func nextWord() -> ArraySlice<UInt8> {
            rest = rest.drop { $0 == UInt8(ascii: " ") }
            let word = rest.prefix { $0 != UInt8(ascii: " ") }
            rest = rest[word.endIndex...]
            return word
        }
        var flags = ""
        var word = nextWord()
        if word.last != UInt8(ascii: ":") {
            flags = String(decoding: word, as: UTF8.self)
            word = nextWord()
        }
        guard word.count > 1, word.last == UInt8(ascii: ":") else { return nil }
        let timestamp = String(decoding: word.dropLast(), as: UTF8.self)
        guard Double(timestamp) != nil else { return nil }
        if rest.first == UInt8(ascii: " ") { rest = rest.dropFirst() }
        // "event: message", the event a C identifier.
        var event: String?
        if let colon = rest.firstIndex(of: UInt8(ascii: ":")), colon > rest.startIndex,
           rest[rest.startIndex..<colon].allSatisfy({ Self.isIdentifierByte($0) }),
           colon + 1 == rest.endIndex || rest[colon + 1] == UInt8(ascii: " ") {
            event = String(decoding: rest[rest.startIndex..<colon], as: UTF8.self)
            rest = rest[(colon + 1)...]
            if rest.first == UInt8(ascii: " ") { rest = rest.dropFirst() }
        }
        self.task = task
        self.pid = pid
        self.tgid = tgid
        self.cpu = cpu
        self.flags = flags
        self.timestamp = timestamp
        self.event = event
        message = String(decoding: rest, as: UTF8.self)
    }

    private static func isIdentifierByte(_ byte: UInt8) -> Bool {
        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 95
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while slice.first == UInt8(ascii: " ") { slice = slice.dropFirst() }
        while slice.last == UInt8(ascii: " ") { slice = slice.dropLast() }
        return slice
    }
}

/// Cuts a byte stream into lines, keeping a partial line until the rest arrives. A line longer than
/// ``limit`` bytes is handed over in pieces of that size, so a stream without newlines cannot grow memory
/// without bound. Also holds the complete lines a consumer stopped before taking, for the next one.
struct TraceLineSplitter: Sendable {
    /// The longest line kept whole (the kernel writes at most a page per read; `bpf_printk` lines are short).
    static let limit = 64 * 1024
    private var partial: [UInt8] = []
    /// Complete lines read from the file and not handed over yet (a handler stopped before them).
    var queued: [String] = []

    /// Bytes of an unfinished line waiting for their newline.
    var pendingBytes: Int { partial.count }

    /// Appends `bytes` and returns the lines they complete, without their newlines (a `\r` before the
    /// newline is kept: trace lines have none).
    mutating func append(_ bytes: UnsafeRawBufferPointer) -> [String] {
        var lines: [String] = []
        var start = 0
        for index in 0..<bytes.count where bytes[index] == 0x0A {
            partial.append(contentsOf: bytes[start..<index])
            lines.append(String(decoding: partial, as: UTF8.self))
            partial.removeAll(keepingCapacity: true)
            start = index + 1
        }
        partial.append(contentsOf: bytes[start...])
        while partial.count >= Self.limit {
            lines.append(String(decoding: partial[..<Self.limit], as: UTF8.self))
            partial.removeFirst(Self.limit)
        }
        return lines
    }

    /// The unfinished line, if any, handed over as it is (at the end of the stream).
    mutating func flush() -> String? {
        guard !partial.isEmpty else { return nil }
        defer { partial.removeAll() }
        return String(decoding: partial, as: UTF8.self)
    }
}

/// Reads what BPF programs print with `bpf_printk` (and every other trace event that is enabled) from
/// `<tracefs>/trace_pipe`, line by line.
///
/// `trace_pipe` is consuming and system-wide: lines written before the reader opened it are delivered
/// too, each line is delivered once, and the kernel lets one reader open it at a time (a second open
/// fails with `EBUSY` until the first reader is released). The file is opened
/// non-blocking and waited on with epoll, so a reader can be stopped from any thread; partial lines are
/// kept across reads. Consumers on different threads take turns, batch by batch.
///
/// ```swift
/// let trace = try TracePipeReader()
/// for try await line in trace.lines() {
///     if let parsed = TraceLine(line) { print(parsed.summary) }
/// }
/// ```
public final class TracePipeReader: @unchecked Sendable {
    /// The file read (`/sys/kernel/tracing/trace_pipe`).
    public let path: String
    private let file: OwnedFileDescriptor
    /// Waiting and stopping: ``poll(timeout:_:)``'s wait and the loops'.
    private let loops: ReaderLoops
    /// Held while the file is read (consumers take turns); holds the unfinished line.
    private let reading = Mutex<TraceLineSplitter>(TraceLineSplitter())
    /// The thread reading (0 when none), to refuse a read started from inside a handler.
    private let walker = Atomic<UInt>(0)
    /// Opens `<tracefs>/trace_pipe`, mounting tracefs first when it is not mounted (and we are root).
    /// - Throws: ``BPFError`` from ``TraceFS/root()``, or when the file cannot be opened.
    public convenience init() throws(BPFError) {
        try self.init(path: try TraceFS.root() + "/trace_pipe")
    }

    /// Opens `path` (a `trace_pipe`, or any pollable file or FIFO that yields lines) non-blocking.
    /// - Throws: ``BPFError`` when the file cannot be opened (`EBUSY`: another reader holds
    ///   `trace_pipe`) or waited on.
    public init(path: String) throws(BPFError) {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let errno = Errno(rawValue: errno)
            var error = BPFError(errno: errno, command: nil, "opening \(path)")
            if errno == .permissionDenied || errno == .notPermitted { error.message += "; reading trace output needs root" }
            if errno == .resourceBusy {
                error.message += "; another reader has it open (the kernel allows one trace_pipe reader at a time)"
            }
            throw error
        }
        file = try OwnedFileDescriptor(adopting: fd)
        let waiter = try EventWaiter()
        try waiter.add(file.rawValue, token: 0, what: path)
        loops = ReaderLoops(waiter: waiter, watched: [.init(descriptor: file.rawValue, what: path)])
        self.path = path
    }

    /// Bytes of an unfinished line read and not yet handed over (complete lines kept after a handler
    /// stopped are not counted).
    public var pendingBytes: Int { reading.withLock { $0.pendingBytes } }

    /// Reads what is available now, without waiting, and hands every complete line to `handler`
    /// (without its newline).
    /// - Returns: how many lines were handed over.
    /// - Throws: ``BPFError`` when reading fails, `.invalidArgument` when called from inside a handler.
    @discardableResult
    public func consume(_ handler: (String) -> Void) throws(BPFError) -> Int {
        try readLines { line in
            handler(line)
            return true
        }
    }

    /// Waits until the file has data (or `timeout` passes, or ``wake()`` / ``stop()`` is called, or a
    /// signal arrives), then consumes what is available as ``consume(_:)`` does.
    /// - Parameters:
    ///   - timeout: nil waits without limit; `.zero` does not wait.
    ///   - handler: called with each line.
    /// - Returns: how many lines were handed over (0 on timeout or wake-up).
    @discardableResult
    public func poll(timeout: Duration? = nil, _ handler: (String) -> Void) throws(BPFError) -> Int {
        try loops.wait(timeout: timeout)
        return try consume(handler)
    }

    /// Reads lines until `body` returns false, ``stop()`` is called from another thread or the file ends
    /// (a FIFO whose writers closed; never `trace_pipe`), blocking between reads. Lines already read when
    /// `body` returns false are kept for the next consumer.
    public func forEach(_ body: (String) -> Bool) throws(BPFError) {
        try loops.forEach({ [self] handler throws(BPFError) in try readAvailable(handler) }, body)
    }

    /// Ends every ``forEach(_:)`` and ``lines(bufferingPolicy:)`` loop running now and wakes a waiting
    /// ``poll(timeout:_:)``. Safe from any thread.
    public func stop() { loops.stop() }

    /// Makes a waiting ``poll(timeout:_:)`` return early. Safe from any thread.
    public func wake() { loops.wake() }

    /// The lines as an asynchronous sequence. Waiting happens on a dedicated thread (never on Swift's
    /// cooperative pool) with its own epoll instance; the sequence ends when the consuming task is
    /// cancelled, when the iteration is abandoned, after ``stop()``, or at the end of a file that has one
    /// (a FIFO whose writers closed; never `trace_pipe`), and finishes with an error if reading fails.
    /// - Parameter bufferingPolicy: what happens when lines arrive faster than they are taken
    ///   (default: keep them all).
    public func lines(
        bufferingPolicy: AsyncThrowingStream<String, any Error>.Continuation.BufferingPolicy = .unbounded
    ) -> AsyncThrowingStream<String, any Error> {
        loops.stream(bufferingPolicy: bufferingPolicy) { [self] yield throws(BPFError) in try readAvailable(yield) }
    }

    private func readLines(_ handler: (String) -> Bool) throws(BPFError) -> Int {
        try readAvailable(handler).records
    }

    /// Hands over the lines kept from an earlier call, then reads until the file has nothing more now
    /// (`EAGAIN`) or ends, handing over complete lines until `handler` returns false (the rest are kept).
    /// At the end of the file the unfinished line is handed over too.
    private func readAvailable(_ handler: (String) -> Bool) throws(BPFError) -> (records: Int, ended: Bool) {
        let thread = UInt(pthread_self())
        guard walker.load(ordering: .relaxed) != thread else {
            throw BPFError(.invalidArgument, "\(path) is already being read by this thread: a line handler cannot read")
        }
        let outcome: Result<(Int, Bool), BPFError> = reading.withLock { splitter in
            walker.store(thread, ordering: .relaxed)
            defer { walker.store(0, ordering: .relaxed) }
            var count = 0
            /// Hands `lines` over; keeps those after a refusal. Returns whether the handler wants more.
            func deliver(_ lines: [String]) -> Bool {
                for (index, line) in lines.enumerated() {
                    count += 1
                    if !handler(line) {
                        splitter.queued = Array(lines[(index + 1)...])
                        return false
                    }
                }
                return true
            }
            let kept = splitter.queued
            splitter.queued = []
            if !deliver(kept) { return .success((count, false)) }
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let got = buffer.withUnsafeMutableBytes { read(file.rawValue, $0.baseAddress, $0.count) }
                if got < 0 {
                    let errno = Errno(rawValue: errno)
                    if errno == .interrupted { continue }
                    if errno == .wouldBlock || errno == .resourceTemporarilyUnavailable { return .success((count, false)) }
                    return .failure(BPFError(errno: errno, command: nil, "reading \(path)"))
                }
                if got == 0 {
                    if let last = splitter.flush(), !deliver([last]) { return .success((count, false)) }
                    return .success((count, true))
                }
                let lines = buffer.withUnsafeBytes { splitter.append(UnsafeRawBufferPointer(rebasing: $0[..<got])) }
                if !deliver(lines) { return .success((count, false)) }
            }
        }
        return try outcome.get()
    }
}
