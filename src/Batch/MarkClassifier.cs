using System.Globalization;

namespace Perf.Batch;

/// <summary>
/// Installs, removes and finds the <c>mark_to_priority</c> tc eBPF classifier that <see cref="PriorityStrategy.MarkAndBpf"/>
/// relies on: clsact egress, direct-action, copying skb->mark to skb->priority before the root qdisc classifies.
/// It drives the system's own tools (clang to build the shipped C source, tc and ip), as an administrator would;
/// attaching needs root. Each method takes an optional network namespace name (<c>ip netns exec</c>).
/// </summary>
public static class MarkClassifier
{
    /// <summary>The tc filter preference the classifier is attached at, so it can be removed alone.</summary>
    public const int FilterPreference = 4919;

    private const string ProgramName = "mark_to_priority";

    // The ingress echo (priority_to_mark) at its own preference, so either filter can be removed alone.
    private const string EchoProgramName = "priority_to_mark";
    private const int EchoPreference = FilterPreference + 1;

    /// <summary>Where the shipped C source lies (copied next to the assembly).</summary>
    public static string SourcePath => Path.Combine(AppContext.BaseDirectory, "Bpf", ProgramName + ".bpf.c");

    /// <summary>Builds the program with clang (-target bpf) and attaches it to <paramref name="device"/>'s clsact egress hook.</summary>
    /// <exception cref="InvalidOperationException">clang, tc or the attach failed; the message has the tool's own words.</exception>
    public static void Attach(string device, string? netns = null) => Attach(device, netns, ProgramName, "egress", FilterPreference);

    /// <summary>
    /// Attaches <c>priority_to_mark</c> to <paramref name="device"/>'s clsact ingress: it copies skb->priority into
    /// skb->mark, so a SO_RCVMARK receiver on loopback sees each datagram's priority on kernels before 6.14.
    /// </summary>
    internal static void AttachPriorityEcho(string device, string? netns = null) => Attach(device, netns, EchoProgramName, "ingress", EchoPreference);

    /// <summary>Removes the ingress echo (and the clsact qdisc when nothing else uses it).</summary>
    internal static void DetachPriorityEcho(string device, string? netns = null)
    {
        ValidateDevice(device);
        Run(netns, "tc", "filter del dev " + device + " ingress pref " + EchoPreference.ToString(CultureInfo.InvariantCulture));
        RemoveIdleClsact(device, netns);
    }

    /// <summary>Whether the ingress echo is attached to <paramref name="device"/>.</summary>
    internal static bool IsPriorityEchoAttached(string device, string? netns = null)
    {
        ValidateDevice(device);
        (int code, string output) = Run(netns, "tc", "filter show dev " + device + " ingress");
        return code == 0 && output.Contains(EchoProgramName, StringComparison.Ordinal);
    }

    private static void Attach(string device, string? netns, string program, string hook, int preference)
    {
        ValidateDevice(device);
        string obj = Build(program);
        try
        {
            // clsact may already be there (other filters): keep it.
            (int code, string output) = Run(netns, "tc", "qdisc add dev " + device + " clsact");
            if (code != 0 && !output.Contains("File exists", StringComparison.Ordinal) && !output.Contains("Exclusivity flag on", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("tc qdisc add dev " + device + " clsact failed: " + output.Trim());
            }

            string pref = " pref " + preference.ToString(CultureInfo.InvariantCulture);
            Run(netns, "tc", "filter del dev " + device + " " + hook + pref);
            Check(Run(netns, "tc", "filter add dev " + device + " " + hook + pref + " bpf direct-action obj " + obj + " sec tc"), "tc filter add (bpf " + program + ")");
        }
        finally
        {
            File.Delete(obj);
        }
    }

    /// <summary>Removes the classifier from <paramref name="device"/> (and the clsact qdisc when nothing else uses it).</summary>
    public static void Detach(string device, string? netns = null) => Detach(device, netns, removeClsact: true);

    private static void Detach(string device, string? netns, bool removeClsact)
    {
        ValidateDevice(device);
        Run(netns, "tc", "filter del dev " + device + " egress pref " + FilterPreference.ToString(CultureInfo.InvariantCulture));
        if (removeClsact)
        {
            RemoveIdleClsact(device, netns);
        }
    }

    private static void RemoveIdleClsact(string device, string? netns)
    {
        (int _, string egress) = Run(netns, "tc", "filter show dev " + device + " egress");
        (int _, string ingress) = Run(netns, "tc", "filter show dev " + device + " ingress");
        if (egress.Trim().Length == 0 && ingress.Trim().Length == 0)
        {
            Run(netns, "tc", "qdisc del dev " + device + " clsact");
        }
    }

    /// <summary>Whether the classifier is attached to <paramref name="device"/>'s egress hook.</summary>
    public static bool IsAttached(string device, string? netns = null)
    {
        ValidateDevice(device);
        (int code, string output) = Run(netns, "tc", "filter show dev " + device + " egress");
        return code == 0 && output.Contains(ProgramName, StringComparison.Ordinal);
    }

    /// <summary>The device the route to <paramref name="destination"/> leaves by (<c>ip route get</c>), or null.</summary>
    public static string? EgressDevice(DatagramAddress destination, string? netns = null)
    {
        (int code, string output) = Run(netns, "ip", "route get " + destination.ToIPAddress().ToString());
        if (code != 0)
        {
            return null;
        }

        string[] words = output.Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries);
        int i = Array.IndexOf(words, "dev");
        return i >= 0 && i + 1 < words.Length ? words[i + 1] : null;
    }

    /// <summary>
    /// For a sender using MarkAndBpf: finds the route's egress device for <paramref name="destination"/> and says
    /// whether the classifier is attached there. Returns a sentence for logs.
    /// </summary>
    public static bool Check(DatagramAddress destination, out string report, string? netns = null)
    {
        string? dev = EgressDevice(destination, netns);
        if (dev is null)
        {
            report = "no route to " + destination + ": cannot tell which device needs the mark_to_priority classifier";
            return false;
        }

        bool attached = IsAttached(dev, netns);
        report = attached
            ? "mark_to_priority is attached to " + dev + " egress (the route to " + destination + ")"
            : "mark_to_priority is NOT attached to " + dev + " egress (the route to " + destination + "): priorities will not reach the qdisc; run perfgen bpf-attach --dev " + dev;
        return attached;
    }

    private static string Build(string program)
    {
        string? clang = FindClang() ?? throw new InvalidOperationException("clang is needed to build the eBPF classifier (apt-get install clang-14)");
        string source = Path.Combine(AppContext.BaseDirectory, "Bpf", program + ".bpf.c");
        string obj = Path.Combine(Path.GetTempPath(), "perf-" + program + "-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8] + ".o");
        string arch = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.Arm64 ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
        Check(Run(null, clang, "-O2 -g -target bpf -I/usr/include/" + arch + " -c " + source + " -o " + obj), "clang -target bpf");
        return obj;
    }

    internal static string? FindClang()
    {
        foreach (string name in (string[])["clang", "clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14"])
        {
            foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
            {
                string path = Path.Combine(dir, name);
                if (File.Exists(path))
                {
                    return path;
                }
            }
        }

        return null;
    }

    private static void ValidateDevice(string device)
    {
        if (string.IsNullOrEmpty(device) || device.Length > 15 || !device.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '@'))
        {
            throw new ArgumentException("'" + device + "' is not a network device name.", nameof(device));
        }
    }

    private static void Check((int Code, string Output) r, string what)
    {
        if (r.Code != 0)
        {
            throw new InvalidOperationException(what + " failed: " + r.Output.Trim());
        }
    }

    private static (int Code, string Output) Run(string? netns, string file, string args)
    {
        if (netns is not null && (netns.Length == 0 || !netns.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            throw new ArgumentException("'" + netns + "' is not a network namespace name.", nameof(netns));
        }

        return HostCommand.Run(netns, file, args);
    }
}
