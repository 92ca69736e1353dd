// swift-tools-version:5.7
// The Swift binding of edgelm. Run scripts/build-xcframework.sh first: it builds CEdgelm.xcframework here.
import PackageDescription

let package = Package(
    name: "Edgelm",
    platforms: [.iOS(.v15)],
    products: [.library(name: "Edgelm", targets: ["Edgelm"])],
    targets: [
        .binaryTarget(name: "CEdgelm", path: "CEdgelm.xcframework"),
        .target(name: "Edgelm", dependencies: ["CEdgelm"]),
    ]
)
