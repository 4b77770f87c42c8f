using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Perf.Batch;

namespace Perf.Gateway;

/// <summary>perf-gateway's command line. Exit codes: 0 after SIGTERM or SIGINT drained it, 2 bad input or setup error.</summary>
internal static class Program
{
    internal const int BadInput = 2;

    private static readonly Option<string?> s_tap = new("--tap") { Description = "TAP device to create (the user addresses it: ip addr add …; ip link set NAME up)", HelpName = "NAME" };
    private static readonly Option<string?> s_listen = new("--listen") { Description = "ADDR:PORT where the peer's VXLAN datagrams arrive (the kernel's dstport; 4789 is VXLAN's)", HelpName = "ADDR:PORT" };
    private static readonly Option<string?> s_peer = new("--peer") { Description = "ADDR:PORT of the other tunnel end", HelpName = "ADDR:PORT" };
    private static readonly Option<string?> s_vni = new("--vni") { Description = "VXLAN network identifier, 0 to 16777215", HelpName = "N" };
    private static readonly Option<string?> s_map = new("--dscp-map") { Description = "Priority per inner DSCP: DSCP=PRIORITY,…[,default=PRIORITY], priorities decimal or 0x hex (0x10010 is HTB class 1:10); DSCPs not named, and frames without IP, get default (0)" };
    private static readonly Option<string?> s_mtu = new("--mtu") { Description = "The TAP's MTU (default: the underlay's path MTU to the peer less VXLAN's 50 bytes, 70 over IPv6); a larger frame is a counted drop, never a fragment", HelpName = "N" };
    private static readonly Option<string?> s_offloads = new("--offloads") { Description = "on (default): the TAP hands over TCP and UDP super-packets of up to 64 KB, cut here into frames that leave as UDP GSO runs; off: one frame per read", HelpName = "on|off" };
    private static readonly Option<string?> s_queues = new("--queues") { Description = "Workers, each with its own TAP queue, listening socket (SO_REUSEPORT) and senders: one per core is the expected use (default 1)", HelpName = "N" };
    private static readonly Option<string?> s_sourcePorts = new("--source-ports") { Description = "LOW-HIGH: the outer source ports the inner flows are spread over by a hash of each flow (RFC 7348 5), for the peer's RSS and ECMP; default 8 ephemeral ports", HelpName = "LOW-HIGH" };
    private static readonly Option<string?> s_json = new("--json") { Description = "On exit, write counts each way, per priority, and drops by reason to FILE (- for stdout)", HelpName = "FILE" };

    private static int Main(string[] args) => Run(args);

    /// <summary>The whole command line: runs the gateway until SIGTERM or SIGINT, or fails with one line and exit 2.</summary>
    internal static int Run(string[] args)
    {
        var root = new RootCommand("perf-gateway: a userspace VXLAN tunnel endpoint (RFC 7348) on Perf: each frame from the TAP leaves with the priority its inner DSCP maps to, and the inner DSCP and ECN outside")
        {
            s_tap, s_listen, s_peer, s_vni, s_map, s_mtu, s_offloads, s_queues, s_sourcePorts, s_json,
        };
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            return Fail(parse.Errors[0].Message);
        }

        if (parse.Action is not null && parse.CommandResult.Command == root && parse.Tokens.Any(t => t.Value is "--help" or "-h" or "-?" or "--version"))
        {
            return parse.Invoke();
        }

        try
        {
            GatewaySettings settings = Settings(parse);
            Perf.Tools.OutputFile.CheckWritable(settings.JsonPath, "--json"); // written at exit: found unwritable now
            return Serve(settings);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or PerfSocketException or IOException or UnauthorizedAccessException)
        {
            string message = e is ArgumentException { ParamName: { } name } ? e.Message.Replace(" (Parameter '" + name + "')", string.Empty, StringComparison.Ordinal) : e.Message;
            return Fail(message);
        }
    }

    /// <summary>Every option checked before the TAP exists: a bad one is one line and exit 2.</summary>
    internal static GatewaySettings Settings(ParseResult parse)
    {
        string tap = Required(parse, s_tap);
        DatagramAddress listen = Address(Required(parse, s_listen), "--listen");
        DatagramAddress peer = Address(Required(parse, s_peer), "--peer");
        if (listen.AddressFamily != peer.AddressFamily)
        {
            throw new FormatException("--listen and --peer must both be IPv4 or both IPv6");
        }

        string vniText = Required(parse, s_vni);
        if (!uint.TryParse(vniText, NumberStyles.None, CultureInfo.InvariantCulture, out uint vni) || vni > Vxlan.MaxVni)
        {
            throw new FormatException("--vni must be 0 to " + Vxlan.MaxVni.ToString(CultureInfo.InvariantCulture) + ": '" + vniText + "'");
        }

        int? mtu = null;
        if (parse.GetValue(s_mtu) is { } mtuText)
        {
            mtu = int.TryParse(mtuText, NumberStyles.None, CultureInfo.InvariantCulture, out int m) && m is >= 68 and <= GatewaySettings.MaxFrame - 18
                ? m
                : throw new FormatException("--mtu must be 68 to " + (GatewaySettings.MaxFrame - 18).ToString(CultureInfo.InvariantCulture) + ": '" + mtuText + "'");
        }

        bool offloads = parse.GetValue(s_offloads) switch
        {
            null or "on" => true,
            "off" => false,
            { } other => throw new FormatException("--offloads must be on or off: '" + other + "'"),
        };

        int queues = 1;
        if (parse.GetValue(s_queues) is { } queuesText &&
            (!int.TryParse(queuesText, NumberStyles.None, CultureInfo.InvariantCulture, out queues) || queues is < 1 or > 64))
        {
            throw new FormatException("--queues must be 1 to 64: '" + queuesText + "'");
        }

        (int firstPort, int portCount) = SourcePorts(parse.GetValue(s_sourcePorts), listen, queues);
        return new GatewaySettings(tap, listen, peer, vni, DscpPriorities.Parse(parse.GetValue(s_map)), parse.GetValue(s_json), mtu, offloads,
            queues, firstPort, portCount);
    }

    // LOW-HIGH, not the listening port (the peer's datagrams arrive there), at least one port per worker.
    private static (int First, int Count) SourcePorts(string? text, DatagramAddress listen, int queues)
    {
        if (text is null)
        {
            return (0, Math.Max(GatewaySettings.DefaultSourcePorts, queues));
        }

        string[] parts = text.Split('-');
        if (parts.Length != 2 || !ushort.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out ushort low) ||
            !ushort.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out ushort high) || low == 0 || high < low)
        {
            throw new FormatException("--source-ports must be LOW-HIGH, 1 to 65535: '" + text + "'");
        }

        if (listen.Port >= low && listen.Port <= high)
        {
            throw new FormatException("--source-ports " + text + " holds the listening port " + listen.Port.ToString(CultureInfo.InvariantCulture) + ", where the peer's datagrams arrive");
        }

        int count = high - low + 1;
        return count >= queues ? (low, count)
            : throw new FormatException("--source-ports " + text + " has " + count.ToString(CultureInfo.InvariantCulture) + " ports for " + queues.ToString(CultureInfo.InvariantCulture) + " queues: each worker needs one");
    }

    private static int Serve(GatewaySettings settings)
    {
        using var stop = new CancellationTokenSource();
        using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using VxlanGateway gateway = VxlanGateway.Create(settings);
        Console.Error.WriteLine($"perf-gateway: {settings.Tap} <-> {settings.Peer} (VNI {settings.Vni}), listening on {settings.Listen}; {gateway.Queues} queue(s), {gateway.Uplinks.Count()} source port(s); priorities by {gateway.Uplink.PriorityStrategy}; TAP offloads: {gateway.Tap.Offloads}");
        var clock = Stopwatch.StartNew();
        gateway.RunAsync(stop.Token).GetAwaiter().GetResult();
        using (Stream? json = OpenReport(settings.JsonPath))
        {
            if (json is not null)
            {
                GatewayReport.Write(json, gateway, clock.Elapsed);
            }
        }

        return 0;

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true; // drain, write the report, exit 0
            stop.Cancel();
        }
    }

    private static string Required(ParseResult parse, Option<string?> option) =>
        parse.GetValue(option) is { Length: > 0 } value ? value : throw new FormatException(option.Name + " is required");

    private static DatagramAddress Address(string text, string option) =>
        DatagramAddress.TryParse(text, out DatagramAddress address) && address.Port != 0
            ? address
            : throw new FormatException(option + " must be ADDR:PORT with a numeric address and a port: '" + text + "'");

    private static Stream? OpenReport(string? path) => path switch
    {
        null => null,
        "-" => Console.OpenStandardOutput(),
        _ => new FileStream(path, FileMode.Create, FileAccess.Write),
    };

    private static int Fail(string message)
    {
        Console.Error.WriteLine("perf-gateway: " + message.ReplaceLineEndings(" "));
        return BadInput;
    }
}
