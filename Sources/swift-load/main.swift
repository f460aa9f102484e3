import SwiftLoadCLI

await SwiftLoad.main()
