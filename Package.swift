// swift-tools-version: 6.0
// swift-load: a pure-Swift eBPF loader. The module graph is the architecture (Docs/Architecture.md):
// offline targets (ByteParsing, ELF, BTF, BPFObject) never depend on the syscall shim or swift-system.
import PackageDescription

let package = Package(
    name: "swift-load",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "swift-load", targets: ["swift-load"]),
        .library(name: "ByteParsing", targets: ["ByteParsing"]),
        .library(name: "ELF", targets: ["ELF"]),
        .library(name: "BTF", targets: ["BTF"]),
        .library(name: "BPFObject", targets: ["BPFObject"]),
        .library(name: "BPF", targets: ["BPF"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // Offline: deterministic, no syscalls beyond reading the file the caller names.
        .target(name: "ByteParsing"),
        .target(name: "ELF", dependencies: ["ByteParsing"]),
        .target(name: "BTF", dependencies: ["ByteParsing"]),
        .target(name: "BPFObject", dependencies: ["ELF", "BTF", "ByteParsing"]),
        // Kernel side.
        .target(name: "CBPF"),
        .target(
            name: "BPF",
            dependencies: [
                "BPFObject", "BTF", "ELF", "ByteParsing", "CBPF",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .target(
            name: "SwiftLoadCLI",
            dependencies: [
                "BPF", "BPFObject", "BTF", "ELF", "ByteParsing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "swift-load", dependencies: ["SwiftLoadCLI"]),
        // Examples/: one executable per example, each a main.swift using BPF as a user would (Docs/examples.md).
        .executableTarget(name: "HelloWorld", dependencies: ["BPF"], path: "Examples/HelloWorld"),
        .executableTarget(name: "ExecCounter", dependencies: ["BPF"], path: "Examples/ExecCounter"),
        .executableTarget(name: "SocketFilter", dependencies: ["BPF"], path: "Examples/SocketFilter"),
        .executableTarget(name: "ExecEvents", dependencies: ["BPF"], path: "Examples/ExecEvents"),
        .executableTarget(name: "TaskReader", dependencies: ["BPF"], path: "Examples/TaskReader"),
        // Shared by the test targets: fixture paths, oracle tools, the skip-or-fail rule for capabilities.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "ByteParsingTests", dependencies: ["ByteParsing"]),
        .testTarget(name: "ELFTests", dependencies: ["ELF", "ByteParsing", "TestSupport"]),
        .testTarget(name: "BTFTests", dependencies: ["BTF", "ByteParsing", "TestSupport"]),
        .testTarget(name: "BPFObjectTests", dependencies: ["BPFObject", "ELF", "BTF", "ByteParsing", "TestSupport"]),
        .testTarget(name: "BPFTests", dependencies: ["BPF", "CBPF", "TestSupport"]),
        .testTarget(name: "SwiftLoadCLITests", dependencies: ["SwiftLoadCLI", "TestSupport"]),
        // Runs the built Examples/ executables (found beside the test bundle) on the real kernel.
        .testTarget(name: "ExamplesTests", dependencies: ["TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
