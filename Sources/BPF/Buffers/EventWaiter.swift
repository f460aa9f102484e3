import CBPF
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Waits until one of several descriptors is readable (epoll), or until another thread calls ``wake()``
/// (an eventfd in the same epoll set). Buffer readers block here between batches of records, so reading
/// costs no syscall per record and a reader can be stopped from any thread.
public final class EventWaiter: Sendable {
    /// What ended a wait.
    public struct Readiness: Sendable, Hashable {
        /// The tokens of the descriptors that became readable (as given to ``EventWaiter/add(_:token:what:)``).
        public var tokens: [UInt64]
        /// Whether ``wake()`` was called (the wake-up is consumed by this wait).
        public var woken: Bool
        /// Whether the wait ended without either (timeout or an interrupting signal).
        public var timedOut: Bool { tokens.isEmpty && !woken }
    }

    /// The token the wake-up eventfd is registered with.
    private static let wakeToken = UInt64.max
    private let epoll: OwnedFileDescriptor
    private let wakeup: OwnedFileDescriptor

    /// An empty epoll set with a wake-up eventfd in it.
    public init() throws(BPFError) {
        let epollFD = cbpf_epoll_create()
        guard epollFD >= 0 else { throw BPFError(errno: Errno(rawValue: -epollFD), command: nil, "creating an epoll instance") }
        epoll = try OwnedFileDescriptor(adopting: epollFD)
        let eventFD = cbpf_eventfd()
        guard eventFD >= 0 else { throw BPFError(errno: Errno(rawValue: -eventFD), command: nil, "creating an eventfd") }
        wakeup = try OwnedFileDescriptor(adopting: eventFD)
        try add(wakeup.rawValue, token: Self.wakeToken, what: "the wake-up eventfd")
    }

    /// Adds `fd` to the set: waits end when it is readable, reporting `token` (any value but `UInt64.max`).
    /// The caller keeps `fd` open while it is in the set (the kernel drops closed descriptors by itself).
    public func add(_ fd: Int32, token: UInt64, what: String = "a descriptor") throws(BPFError) {
        let result = cbpf_epoll_add(epoll.rawValue, fd, token)
        guard result == 0 else {
            throw BPFError(errno: Errno(rawValue: -result), command: nil, "adding \(what) to an epoll set")
        }
    }

    /// Waits until a descriptor is readable, ``wake()`` is called, `timeout` passes (nil: no limit, zero:
    /// only checks) or a signal interrupts the wait.
    public func wait(timeout: Duration?) throws(BPFError) -> Readiness {
        var readiness = Readiness(tokens: [], woken: false)
        readiness.woken = try wait(timeout: timeout) { readiness.tokens.append($0) }
        return readiness
    }

    /// ``wait(timeout:)`` without building a ``Readiness``: the readers' wait between batches, which only
    /// needs to return (no allocation per wake-up). Calls `ready` with each readable descriptor's token.
    /// - Returns: whether ``wake()`` was called.
    @usableFromInline
    func wait(timeout: Duration?, _ ready: (UInt64) -> Void) throws(BPFError) -> Bool {
        let capacity = 16
        var woken = false
        let count = withUnsafeTemporaryAllocation(of: UInt64.self, capacity: capacity) { buffer in
            let count = cbpf_epoll_wait(epoll.rawValue, buffer.baseAddress, Int32(capacity), Self.milliseconds(timeout))
            for token in buffer.prefix(Int(max(count, 0))) {
                if token == Self.wakeToken { woken = true } else { ready(token) }
            }
            return count
        }
        if count == -EINTR { return false }
        guard count >= 0 else { throw BPFError(errno: Errno(rawValue: -count), command: nil, "waiting on an epoll set") }
        // The wake-up is consumed by this wait (the eventfd is non-blocking; read only when signalled).
        if woken { _ = cbpf_eventfd_drain(wakeup.rawValue) }
        return woken
    }

    /// Ends the current wait (or the next one, when no one is waiting) from any thread. Async-signal-safe.
    public func wake() { _ = cbpf_eventfd_signal(wakeup.rawValue) }

    /// epoll's timeout: -1 for none, else milliseconds rounded up (so a short timeout never busy-loops)
    /// and capped at `Int32.max`.
    static func milliseconds(_ timeout: Duration?) -> Int32 {
        guard let timeout else { return -1 }
        let (seconds, attoseconds) = timeout.components
        if seconds < 0 { return 0 }
        let perMillisecond: Int64 = 1_000_000_000_000_000
        let fraction = (attoseconds + perMillisecond - 1) / perMillisecond
        let (millis, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow || millis > Int64(Int32.max) - fraction { return Int32.max }
        return Int32(millis + fraction)
    }
}
