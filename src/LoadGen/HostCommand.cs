using System.Diagnostics;

namespace Perf.LoadGen;

/// <summary>Runs a host tool (ip, tc) for perfgen's own lab, optionally inside a named network namespace, with a time bound.</summary>
internal static class HostCommand
{
    /// <summary>Exit code and stdout+stderr; -1 when the tool is missing or timed out.</summary>
    internal static (int Code, string Output) Run(string? netns, string file, string args, int timeoutMs = 60_000)
    {
        if (netns is not null)
        {
            args = "netns exec " + netns + " " + file + " " + args;
            file = "ip";
        }

        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        try
        {
            using Process p = Process.Start(psi)!;
            Task<string> err = p.StandardError.ReadToEndAsync();
            string output = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(timeoutMs))
            {
                p.Kill(entireProcessTree: true);
                return (-1, file + " timed out");
            }

            return (p.ExitCode, output + err.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, file + " is not available (install iproute2): " + e.Message);
        }
    }
}
