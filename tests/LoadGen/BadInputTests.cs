using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using Perf.LoadGen;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.LoadGen;

/// <summary>
/// A new user's mistakes, for every command: each ends in exit 2 and exactly one line on stderr, never a stack trace,
/// and nothing reaches the watching receiver. {dest} is a watching receiver, {busy} a port another socket holds.
/// Each case is one line of arguments, separated by '|'.
/// </summary>
[Collection("Network")]
public sealed class BadInputTests
{
    public static TheoryData<string> Table => new()
    {
        // perfgen with no command
        "--duration",
        "--duration|5parsecs",
        "--duration|-1s",
        "--json|/nonexistent/dir/report.json",
        "--json|/tmp",
        // send: missing values, out-of-range numbers, wrong units, paths, names, strategies
        "send|--dest",
        "send|--dest|127.0.0.1:70000",
        "send|--dest|127.0.0.1",
        "send|--dest|nosuchhost.invalid:9",
        "send|--dest|{dest}|--rate|10furlongs",
        "send|--dest|{dest}|--rate|-5k",
        "send|--dest|{dest}|--size|0",
        "send|--dest|{dest}|--size|100-50",
        "send|--dest|{dest}|--threads|0",
        "send|--dest|{dest}|--threads|100000",
        "send|--dest|{dest}|--count|-5",
        "send|--dest|{dest}|--count|1e3",
        "send|--dest|{dest}|--batch|2000",
        "send|--dest|{dest}|--ring|1000",
        "send|--dest|{dest}|--ring|32",
        "send|--dest|{dest}|--txtime-lead|0ms",
        "send|--dest|{dest}|--txtime-lead|soon",
        "send|--dest|{dest}|--txtime-lead|2ms|--priority-strategy|socket-per-priority",
        "send|--dest|{dest}|--ring|128|--batch|256",
        "send|--dest|{dest}|--warmup|soon",
        "send|--dest|{dest}|--interval|often",
        "send|--dest|{dest}|--priorities|",
        "send|--dest|{dest}|--priorities|0:0",
        "send|--dest|{dest}|--priorities|0x1ffffffff",
        "send|--dest|{dest}|--bind|127.0.0.1:99999",
        "send|--dest|{dest}|--bind|127.0.0.1:{busy}|--count|1",
        "send|--dest|{dest}|--json|/nonexistent/dir/x.json|--count|1",
        "send|--dest|{dest}|--json|/proc/perf-not-writable.json|--count|1",
        "send|--dest|{dest}|--json|/proc/version|--count|1",
        "send|--dest|{dest}|--priority-strategy|mark-bpf|--count|1",
        "send|--dest|{dest}|--ipv6|--count|1",
        "send|--dest|{dest}|--burst|0",
        "send|--dest|{dest}|--burst|many",
        "send|--dest|{dest}|--gso|maybe",
        // sink
        "sink|--listen",
        "sink|--listen|127.0.0.1:{busy}|--duration|1s",
        "sink|--listen|nosuchhost.invalid:9000",
        "sink|--listen|127.0.0.1:0|--idle|forever",
        "sink|--listen|127.0.0.1:0|--count|0",
        "sink|--listen|127.0.0.1:0|--json|/nonexistent/dir/x.json",
        // forward
        "forward|--listen|127.0.0.1:{busy}|--to|{dest}|--duration|1s",
        "forward|--listen|127.0.0.1:0|--to|nosuchhost.invalid:9",
        "forward|--listen|127.0.0.1:0|--to|{dest}|--max-size|0",
        "forward|--listen|127.0.0.1:0|--to|{dest}|--map|5",
        "forward|--listen|127.0.0.1:0|--to|{dest}|--duration|later",
        "forward|--listen|127.0.0.1:0|--to|{dest}|--json|/nonexistent/dir/x.json",
        "forward|--listen|127.0.0.1:0|--to|{dest}|--gso|sometimes",
        "forward|--listen|127.0.0.1:0|--to|{dest}|--threads|0",
        // bpf-attach / bpf-detach: a device that does not exist, a name that cannot be one
        "bpf-attach|--dev|nosuchdev0",
        "bpf-attach|--dev|bad name!",
        "bpf-detach|--dev|bad name!",
        // qdisc-test
        "qdisc-test|--classes|1:10=fast",
        "qdisc-test|--classes|",
        "qdisc-test|--count|0",
        "qdisc-test|--size|70000",
        "qdisc-test|--json|/nonexistent/dir/x.json",
        "qdisc-test|--burst|0",
        "sink|--listen|127.0.0.1:0|--gro|yes",
        // watch: no device, one that is not there, one without a counting qdisc, bad values, an unwritable report
        "watch",
        "watch|nosuchdev0|--duration|1s",
        "watch|lo|--duration|1s",
        "watch|bad name!",
        "watch|lo|--interval|often",
        "watch|lo|--expect|x",
        "watch|lo|--json|/proc/version",
    };

    [Trait(Lab.Trait, Lab.HostOnly)]
    [Theory]
    [MemberData(nameof(Table))]
    public void BadInputIsOneLineAndExit2WithNothingSent(string line)
    {
        string[] args = line.Split('|'); // one case per line: the arguments, '|'-separated
        using PacketReceiver watch = Loopback.Receiver(AddressFamily.InterNetwork);
        using var busy = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        busy.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        string port = ((IPEndPoint)busy.LocalEndPoint!).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string[] patched = [.. args.Select(a => a.Replace("{dest}", watch.LocalAddress.ToString(), StringComparison.Ordinal).Replace("{busy}", port, StringComparison.Ordinal))];

        (int code, string stdout, string stderr) = RunCaptured(patched);

        Assert.True(code == 2, "exit " + code + " for perfgen " + string.Join(' ', patched) + ": " + stderr + stdout);
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1 && lines[0].StartsWith("perfgen: ", StringComparison.Ordinal), "expected one 'perfgen: ' line, got: " + stderr);
        Assert.DoesNotContain("   at ", stderr + stdout);
        Assert.Equal(0, watch.Receive(100)); // nothing was sent
    }

    [Trait(Lab.Trait, Lab.HostOnly)]
    [Fact]
    public void ABadJsonPathLeavesNoFileAndAnExistingOneUntouched()
    {
        string dir = Path.Combine(Path.GetTempPath(), "perf-json-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string fresh = Path.Combine(dir, "new.json");
            Perf.Tools.OutputFile.CheckWritable(fresh, "--json");
            Assert.False(File.Exists(fresh)); // checked, not left behind
            string existing = Path.Combine(dir, "old.json");
            File.WriteAllText(existing, "keep");
            Perf.Tools.OutputFile.CheckWritable(existing, "--json");
            Assert.Equal("keep", File.ReadAllText(existing));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AnUnreachableConnectedDestinationIsOneLineAndExit2()
    {
        string? why = NetNs.Unavailable();
        Assert.SkipWhen(why is not null, why ?? string.Empty);
        using NetNs ns = NetNs.Create("unreach"); // only lo: 198.51.100.7 has no route, and nothing can leave
        (int code, string _, string stderr) = ns.Run(() => RunCaptured(["send", "--dest", "198.51.100.7:9", "--connect", "--count", "5", "--quiet"]));
        Assert.Equal(2, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("ENETUNREACH", stderr);
    }

    [Fact]
    public void MissingPrivilegesAreOneLineAndExit2()
    {
        Assert.SkipUnless(HostTools.IsRoot && HostTools.HasTool("setpriv"), "needs root and setpriv to run perfgen without privileges");
        string perfgen = Path.Combine(AppContext.BaseDirectory, "perfgen");
        Assert.SkipUnless(File.Exists(perfgen), "the perfgen apphost is not next to the tests");
        foreach (string[] args in (string[][])[["qdisc-test", "--count", "10"], ["bpf-attach", "--dev", "lo"], ["send", "--dest", "127.0.0.1:9", "--priorities", "7", "--count", "1"]])
        {
            (int code, string output) = HostTools.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--", perfgen, .. args], TimeSpan.FromSeconds(60));
            Assert.True(code == 2, "perfgen " + string.Join(' ', args) + " without privileges: exit " + code + ": " + output);
            string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Length == 1 && lines[0].StartsWith("perfgen: ", StringComparison.Ordinal), "expected one line: " + output);
        }
    }

    private static (int Code, string Stdout, string Stderr) RunCaptured(string[] args)
    {
        TextWriter stdout = Console.Out;
        TextWriter stderr = Console.Error;
        var capturedOut = new StringWriter();
        var capturedErr = new StringWriter();
        Console.SetOut(capturedOut);
        Console.SetError(capturedErr);
        try
        {
            int code = PerfgenCli.Run(args);
            return (code, capturedOut.ToString(), capturedErr.ToString());
        }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }
}
