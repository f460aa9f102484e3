import Foundation

/// A network namespace made for one test, joined to the test's namespace by a veth pair: one end
/// (``hostInterface``, address ``hostAddress``) stays in the namespace the test runs in, where programs
/// attach; the other (``peerInterface``, ``peerAddress``) is inside the new namespace, where traffic is
/// sent from (``ping(count:)``). Names and the /24 subnet are unique per instance, so tests may run in
/// parallel. ``remove()`` (or `deinit`) deletes the namespace and both ends of the pair.
///
/// Built with iproute2's `ip` (`ip netns add`, `ip link add … type veth peer …`); needs root.
public final class NetworkNamespace: @unchecked Sendable {
    /// The namespace's name (`ip netns list`).
    public let name: String
    /// The veth end in the test's namespace.
    public let hostInterface: String
    /// The veth end inside the namespace.
    public let peerInterface: String
    /// The IPv4 address of ``hostInterface``.
    public let hostAddress: String
    /// The IPv4 address of ``peerInterface``.
    public let peerAddress: String

    private let ip: String
    private let lock = NSLock()
    private var removed = false

    nonisolated(unsafe) private static var created = 0
    private static let counterLock = NSLock()

    /// Whether `ip` is installed (the tests skip, or fail in CI, when it is not).
    public static var isAvailable: Bool { Tool.path("ip") != nil }

    /// Creates the namespace and the veth pair, with addresses, and brings both ends (and the namespace's
    /// `lo`) up. Anything made before a failing step is removed again.
    public init() throws {
        guard let ip = Tool.path("ip") else { throw NetworkNamespaceError(step: "finding iproute2", output: "ip is not installed") }
        self.ip = ip
        let serial = Self.counterLock.withLock { () -> Int in
            Self.created += 1
            return Self.created
        }
        let tag = "\(getpid() % 100_000)x\(serial % 1000)"
        name = "swift-load-\(tag)"
        hostInterface = "slh\(tag)"
        peerInterface = "slp\(tag)"
        let subnet = try Self.unusedSubnet(ip: ip)
        hostAddress = subnet + ".1"
        peerAddress = subnet + ".2"
        do {
            try step("adding the namespace", ["netns", "add", name])
            try step("adding the veth pair", ["link", "add", hostInterface, "type", "veth", "peer", "name", peerInterface, "netns", name])
            try step("addressing the host end", ["addr", "add", hostAddress + "/24", "dev", hostInterface])
            try step("bringing the host end up", ["link", "set", hostInterface, "up"])
            try step("addressing the peer end", ["-n", name, "addr", "add", peerAddress + "/24", "dev", peerInterface])
            try step("bringing the peer end up", ["-n", name, "link", "set", peerInterface, "up"])
            try step("bringing the namespace's lo up", ["-n", name, "link", "set", "lo", "up"])
        } catch {
            remove()
            throw error
        }
    }

    /// The host end's interface index.
    public var hostInterfaceIndex: UInt32 { if_nametoindex(hostInterface) }

    /// Runs `arguments` inside the namespace (`ip netns exec NAME …`).
    public func run(_ arguments: [String]) throws -> Tool.Output {
        try Tool.run(ip, ["netns", "exec", name] + arguments)
    }

    /// Pings the host end from inside the namespace: `count` echo requests 0.2 s apart, each answered
    /// (the replies leave the host end). Returns ping's output; its status is 0 when every reply came.
    @discardableResult
    public func ping(count: Int) throws -> Tool.Output {
        guard let ping = Tool.path("ping") else { throw NetworkNamespaceError(step: "finding ping", output: "ping is not installed") }
        return try run([ping, "-c\(count)", "-i0.2", "-W2", hostAddress])
    }

    /// Deletes the namespace (which destroys the veth pair) and the host end, should it remain.
    /// Idempotent.
    public func remove() {
        let first = lock.withLock { () -> Bool in
            defer { removed = true }
            return !removed
        }
        guard first else { return }
        _ = try? Tool.run(ip, ["link", "del", hostInterface])
        _ = try? Tool.run(ip, ["netns", "del", name])
    }

    deinit { remove() }

    private func step(_ what: String, _ arguments: [String]) throws {
        let result = try Tool.run(ip, arguments)
        guard result.status == 0 else {
            throw NetworkNamespaceError(step: "\(what) (ip \(arguments.joined(separator: " ")))", output: result.stderr)
        }
    }

    /// A `10.X.Y` prefix no interface of the test's namespace uses (chosen at random among 25,600).
    private static func unusedSubnet(ip: String) throws -> String {
        let used = (try? Tool.run(ip, ["-o", "-4", "addr", "show"]).stdout) ?? ""
        for _ in 0..<64 {
            let candidate = "10.\(Int.random(in: 100...199)).\(Int.random(in: 0...255))"
            if !used.contains(" \(candidate).") { return candidate }
        }
        throw NetworkNamespaceError(step: "choosing a subnet", output: "every candidate 10.X.Y.0/24 was in use")
    }
}

/// A step of setting up a ``NetworkNamespace`` failed.
public struct NetworkNamespaceError: Error, CustomStringConvertible {
    /// What was being done.
    public var step: String
    /// What the tool printed.
    public var output: String
    /// `STEP: OUTPUT`.
    public var description: String { "\(step): \(output.trimmingCharacters(in: .whitespacesAndNewlines))" }
}
