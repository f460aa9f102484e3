import SwiftLoadCLI

SwiftLoad.main()
