import Foundation
import PackagePlugin

/// Bakes the source tree's version (`scripts/version`: git describe, or the VERSION file of a
/// `git archive` tarball, or "unknown") into the `flowspec-nft` binary as `buildVersion`, for
/// `--version`. A prebuild command, so it runs before every build; the script rewrites the
/// generated file only when the version changed, so an unchanged tree recompiles nothing.
@main
struct VersionPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "Generated")
        return [.prebuildCommand(displayName: "Version of the source tree (scripts/version)",
                                 executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: [context.package.directoryURL.appending(path: "scripts/version").path, "--swift", output.path],
                                 outputFilesDirectory: output)]
    }
}
