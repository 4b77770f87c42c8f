using System.Diagnostics;

namespace Perf.LoadGen.QdiscTest;

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

        return Run(new ProcessStartInfo(file, args), timeoutMs);
    }

    /// <summary>The same with the arguments as a list, passed to the program as they are (no shell, no splitting).</summary>
    internal static (int Code, string Output) Run(string file, IEnumerable<string> args, int timeoutMs)
    {
        var psi = new ProcessStartInfo(file);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return Run(psi, timeoutMs);
    }

    private static (int Code, string Output) Run(ProcessStartInfo psi, int timeoutMs)
    {
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        try
        {
            using Process p = Process.Start(psi)!;
            Task<string> stdout = p.StandardOutput.ReadToEndAsync();
            Task<string> stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeoutMs))
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit();
                return (-1, psi.FileName + " timed out after " + timeoutMs + " ms: " + stdout.Result + stderr.Result);
            }

            return (p.ExitCode, stdout.Result + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, psi.FileName + " is not available (install iproute2): " + e.Message);
        }
    }
}
