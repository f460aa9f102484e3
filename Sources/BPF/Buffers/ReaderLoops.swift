import Synchronization

/// The waiting and stopping that every buffer reader (``RingBufferReader``, ``PerfBufferReader``,
/// ``TracePipeReader``) offers around its own walk of what is available now: `poll` (one shared wait),
/// `forEach` and the asynchronous sequences (a wait of their own each, since an epoll wake-up reaches one
/// waiting thread only), and `stop`, which ends every loop running and wakes every wait.
@usableFromInline
final class ReaderLoops: Sendable {
    /// A descriptor the reader waits on, and how errors name it.
    struct Watched: Sendable {
        var descriptor: Int32
        var what: String
    }

    /// One walk over what is available now: hands each record to the handler until it returns false, and
    /// says whether the input has ended for good (a FIFO whose writers closed; never a ring).
    typealias Walk<Record> = (_ handler: (Record) -> Bool) throws(BPFError) -> (records: Int, ended: Bool)

    /// The wait of `poll`.
    private let waiter: EventWaiter
    private let watched: [Watched]
    /// The waits of the loops running now, for ``stop()`` to wake them all.
    private let loopWaiters = Mutex<[ObjectIdentifier: EventWaiter]>([:])
    /// Counts ``stop()`` calls: a loop ends when it changes after the loop started.
    private let stopGeneration = Atomic<UInt64>(0)

    /// Loops over `watched`, with `waiter` (already watching them) as the wait of `poll`.
    init(waiter: EventWaiter, watched: [Watched]) {
        self.waiter = waiter
        self.watched = watched
    }

    /// Waits until a watched descriptor is ready, `timeout` passes, or ``wake()`` / ``stop()`` is called.
    @usableFromInline
    func wait(timeout: Duration?) throws(BPFError) {
        _ = try waiter.wait(timeout: timeout) { _ in }
    }

    /// Walks until `body` returns false, ``stop()`` is called or the input ends, blocking between walks.
    func forEach<Record>(_ walk: @escaping Walk<Record>, _ body: (Record) -> Bool) throws(BPFError) {
        let generation = stopGeneration.load(ordering: .acquiring)
        let loopWaiter = try startLoop()
        defer { endLoop(loopWaiter) }
        var going = true
        while going {
            if stopGeneration.load(ordering: .acquiring) != generation { return }
            let (_, ended) = try walk { record in
                going = body(record)
                return going
            }
            // At the end of the input (a FIFO whose writers closed) epoll reports it ready for ever.
            guard going, !ended else { return }
            _ = try loopWaiter.wait(timeout: nil) { _ in }
        }
    }

    /// Ends every loop running now and wakes a waiting `poll`. Safe from any thread.
    func stop() {
        stopGeneration.add(1, ordering: .acquiringAndReleasing)
        waiter.wake()
        let waiters = loopWaiters.withLock { Array($0.values) }
        for loopWaiter in waiters { loopWaiter.wake() }
    }

    /// Makes a waiting `poll` return early. Safe from any thread.
    func wake() { waiter.wake() }

    /// The records as an asynchronous sequence, walked on a dedicated thread (never on Swift's cooperative
    /// pool) with its own wait; it ends when the consuming task is cancelled, when the iteration is
    /// abandoned, after ``stop()`` or when the input ends, and finishes with an error if a walk fails.
    func stream<Element: Sendable>(
        bufferingPolicy: AsyncThrowingStream<Element, any Error>.Continuation.BufferingPolicy,
        _ walk: @escaping @Sendable (_ handler: (Element) -> Bool) throws(BPFError) -> (records: Int, ended: Bool)
    ) -> AsyncThrowingStream<Element, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Element.self, throwing: (any Error).self,
                                                                     bufferingPolicy: bufferingPolicy)
        let generation = stopGeneration.load(ordering: .acquiring)
        let loopWaiter: EventWaiter
        do { loopWaiter = try startLoop() } catch {
            continuation.finish(throwing: error)
            return stream
        }
        let ended = StopFlag()
        continuation.onTermination = { _ in
            ended.set()
            loopWaiter.wake()
        }
        do {
            try startThread { [self] in
                defer { endLoop(loopWaiter) }
                do {
                    while !ended.isSet && stopGeneration.load(ordering: .acquiring) == generation {
                        let (_, inputEnded) = try walk { element in
                            continuation.yield(element)
                            return !ended.isSet
                        }
                        if ended.isSet || inputEnded { break }
                        _ = try loopWaiter.wait(timeout: nil) { _ in }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
        } catch {
            endLoop(loopWaiter)
            continuation.finish(throwing: error)
        }
        return stream
    }

    /// A wait of its own for a loop, watching every descriptor, registered for ``stop()``.
    private func startLoop() throws(BPFError) -> EventWaiter {
        let loopWaiter = try EventWaiter()
        for (index, item) in watched.enumerated() {
            try loopWaiter.add(item.descriptor, token: UInt64(index), what: item.what)
        }
        loopWaiters.withLock { $0[ObjectIdentifier(loopWaiter)] = loopWaiter }
        return loopWaiter
    }

    private func endLoop(_ loopWaiter: EventWaiter) {
        _ = loopWaiters.withLock { $0.removeValue(forKey: ObjectIdentifier(loopWaiter)) }
    }
}
