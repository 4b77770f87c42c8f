using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Perf.Tests.Infrastructure;

/// <summary>Facts about this host and a bounded way to run its tools.</summary>
internal static partial class HostTools
{
    internal static bool IsRoot => geteuid() == 0;

    internal static bool HasTool(string name) =>
        Environment.GetEnvironmentVariable("PATH")!.Split(':').Any(d => File.Exists(Path.Combine(d, name))) ||
        File.Exists("/usr/sbin/" + name) || File.Exists("/sbin/" + name);

    /// <summary>Runs a program with a time bound; returns exit code and combined output.</summary>
    internal static (int Code, string Output) Run(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit((int)timeout.TotalMilliseconds))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            return (-1, "timed out after " + timeout + ": " + stdout.Result + stderr.Result);
        }

        return (p.ExitCode, stdout.Result + stderr.Result);
    }

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
}
