namespace Perf.Tests.Infrastructure;

/// <summary>
/// A network namespace this test run created, with a unique name, deleted on dispose.
/// Sockets are created inside it through <see cref="Perf.Host.NetworkNamespace"/>.
/// </summary>
internal sealed class NetNs : IDisposable
{
    private static readonly System.Buffers.SearchValues<char> s_shellSyntax = System.Buffers.SearchValues.Create("|&;<>()$`\\\"'*?~");

    private NetNs(string name) => Name = name;

    internal string Name { get; }

    /// <summary>Why namespaces cannot be used here, or null when they can.</summary>
    internal static string? Unavailable()
    {
        if (!HostTools.IsRoot)
        {
            return "needs root to create network namespaces";
        }

        if (!HostTools.HasTool("ip") || !HostTools.HasTool("tc"))
        {
            return "needs iproute2 (ip, tc)";
        }

        return null;
    }

    internal static NetNs Create(string tag)
    {
        string name = "perf-" + tag + "-" + Guid.NewGuid().ToString("N")[..8];
        HostTools.Sh("ip netns add " + name);
        var ns = new NetNs(name);
        try
        {
            ns.Exec("ip link set lo up");
        }
        catch
        {
            ns.Dispose();
            throw;
        }

        return ns;
    }

    /// <summary>Runs a command line inside this namespace; throws with its output when it fails.</summary>
    internal string Exec(string command)
    {
        if (command.AsSpan().IndexOfAny(s_shellSyntax) >= 0)
        {
            return HostTools.Sh("ip netns exec " + Name + " " + command);
        }

        // ip and tc enter the namespace themselves (-n): one exec, where sh + ip netns exec + tc are three, and each
        // costs a few hundred milliseconds under the kernel lab's emulated CPU.
        string[] argv = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        bool self = argv[0] is "ip" or "tc";
        string[] args = self ? ["-n", Name, .. argv.AsSpan(1)] : ["netns", "exec", Name, .. argv];
        (int code, string output) = HostTools.Run(self ? argv[0] : "ip", args, TimeSpan.FromSeconds(30));
        if (code != 0)
        {
            throw new InvalidOperationException("'" + command + "' in " + Name + " exited " + code + ": " + output);
        }

        return output;
    }

    /// <summary>Runs a setup command; a kernel without the qdisc or device kind skips the test, naming what is missing.</summary>
    internal void ExecOrSkip(string command)
    {
        try
        {
            Exec(command);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("kind is unknown", StringComparison.Ordinal) ||
            e.Message.Contains("Unknown device type", StringComparison.Ordinal) || e.Message.Contains("Unknown qdisc", StringComparison.Ordinal))
        {
            Assert.Skip("this kernel (" + Environment.OSVersion.Version + ") lacks what '" + command + "' needs; the kernel lab's Debian kernels have it: " + e.Message.Trim());
        }
    }

    /// <summary>The MAC address of <paramref name="device"/> in this namespace.</summary>
    internal string MacOf(string device) => Exec("cat /sys/class/net/" + device + "/address").Trim();

    /// <summary>Runs <paramref name="func"/> on a fresh thread that has entered this namespace.</summary>
    internal T Run<T>(Func<T> func) => Perf.Host.NetworkNamespace.Run(Name, func);

    public void Dispose() => HostTools.Run("ip", ["netns", "del", Name], TimeSpan.FromSeconds(30));
}
