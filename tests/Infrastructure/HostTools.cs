using System.Runtime.InteropServices;

namespace Perf.Tests.Infrastructure;

/// <summary>Facts about this host and a bounded way to run its tools.</summary>
internal static partial class HostTools
{
    internal static bool IsRoot => geteuid() == 0;

    internal static bool HasTool(string name) =>
        Environment.GetEnvironmentVariable("PATH")!.Split(':').Any(d => File.Exists(Path.Combine(d, name))) ||
        File.Exists("/usr/sbin/" + name) || File.Exists("/sbin/" + name);

    /// <summary>Runs a program with a time bound; returns exit code and combined output (perfgen's own runner).</summary>
    internal static (int Code, string Output) Run(string file, IEnumerable<string> args, TimeSpan timeout) =>
        Perf.LoadGen.QdiscTest.HostCommand.Run(file, args, (int)timeout.TotalMilliseconds);

    /// <summary>Runs a shell command line (ip, tc); throws with its output when it fails.</summary>
    internal static string Sh(string command)
    {
        (int code, string output) = Run("/bin/sh", ["-c", command], TimeSpan.FromSeconds(30));
        if (code != 0)
        {
            throw new InvalidOperationException("'" + command + "' exited " + code + ": " + output);
        }

        return output;
    }

    [LibraryImport("libc")]
    private static partial uint geteuid();

    /// <summary>Loads the TUN/TAP driver where /dev/net/tun is missing (a minimal guest has no node until it loads); skips without one.</summary>
    internal static void EnsureTunOrSkip()
    {
        if (!File.Exists("/dev/net/tun"))
        {
            Run("modprobe", ["tun"], TimeSpan.FromSeconds(30));
        }

        Assert.SkipUnless(File.Exists("/dev/net/tun"), "no /dev/net/tun: this kernel has no TUN/TAP driver");
    }
}
