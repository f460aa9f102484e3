import SwiftLoadCLI

SwiftLoad.start()
