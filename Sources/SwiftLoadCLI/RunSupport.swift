import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// SIGINT and SIGTERM taken synchronously: blocked in every thread (threads inherit the mask of the thread
/// that creates them, so this is set up before any is started) and waited for by the main thread with
/// `sigtimedwait`, so that stopping is ordinary control flow (detach, summary, exit 0) instead of work done
/// inside a signal handler.
struct StopSignals {
    private var set = sigset_t()

    /// Blocks SIGINT and SIGTERM in the calling thread (and the threads it starts from now on), and
    /// ignores SIGPIPE so that a closed stdout (`| head`) still lets the command detach cleanly.
    init() {
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    /// Waits until SIGINT or SIGTERM arrives (its number) or `seconds` pass (nil).
    func wait(seconds: Double) -> Int32? {
        var timeout = timespec()
        let clamped = max(0, min(seconds, 86_400))
        timeout.tv_sec = Int(clamped)
        timeout.tv_nsec = Int((clamped - Double(Int(clamped))) * 1e9)
        var pending = set
        while true {
            let signal = sigtimedwait(&pending, nil, &timeout)
            if signal > 0 { return signal }
            if errno == EINTR { continue }
            return nil  // EAGAIN: the time passed
        }
    }

    /// Unblocks the signals again once the run has detached and summed up: a signal that arrived during
    /// clean-up (still pending) then ends the process the default way.
    func restore() {
        var set = self.set
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}

/// A POSIX thread running one closure: the readers block in their waits, which must not happen on Swift's
/// cooperative pool (two cores give it two threads).
final class BackgroundThread: Sendable {
    private let thread: Mutex<pthread_t?>

    /// Starts `body` on a new thread; nil when the system cannot make one.
    init?(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
            body.run()
            return nil
        }, box)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(box).release()
            return nil
        }
        self.thread = Mutex(thread)
    }

    /// Waits for the closure to return.
    func join() {
        let thread = self.thread.withLock { current -> pthread_t? in
            defer { current = nil }
            return current
        }
        if let thread { pthread_join(thread, nil) }
    }

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
}

/// Writes whole lines to standard output from several threads: each line is one `write(2)`, so lines from
/// different readers never interleave, and each appears as soon as it is produced (streaming output).
///
/// When standard output goes away (`| head`), the printer raises SIGTERM on the process once, so the run
/// command stops as after Ctrl-C (detaching) instead of running on with nobody to read it.
final class LinePrinter: Sendable {
    private let closed = Mutex<Bool>(false)

    /// Prints `text` and a newline.
    func line(_ text: String) { lines([text]) }

    /// Prints `texts` as lines in one write, so that a block (a map, a histogram) is never split by a
    /// line from another thread.
    func lines(_ texts: [String]) {
        var bytes: [UInt8] = []
        for text in texts {
            bytes += text.utf8
            bytes.append(0x0a)
        }
        closed.withLock { closed in
            guard !closed else { return }
            if !bytes.withUnsafeBytes({ StandardOutput.writeAll($0) }) {
                closed = true
                kill(getpid(), SIGTERM)
            }
        }
    }
}

/// Seconds since an arbitrary start, from the monotonic clock.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
