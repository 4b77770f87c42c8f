using System.Diagnostics;
using System.Text.Json;
using Perf.LoadGen;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.LoadGen;

/// <summary>perfgen qdisc-test as a lab: rates under competition, latency, drops, the HTML report, clean-up.</summary>
[Collection("Network")]
public sealed partial class QdiscLabTests
{
    // The host and 6.1: in the lab only its classification is judged, which QdiscTestPassesWithThreeClasses judges on
    // every kernel.
    [Fact]
    public void A1MbitClassAtMaxNextToA20MbitClassEachReachesItsRate()
    {
        SkipUnlessLab();
        using var json = new TempFile(".json");
        // In the lab only classification is judged (below): half the time does.
        int code = RunTimed(["qdisc-test", "--classes", "1:10=1mbit,1:20=20mbit", "--load", "1:10=max,1:20=max", "--duration", Lab.InLab ? "2s" : "4s", "--size", "1000", "--quiet", "--json", json.Path]);
        JsonElement[] classes = Classes(json.Path, out bool pass);
        foreach ((JsonElement c, double rate) in classes.Zip((double[])[1e6, 20e6]))
        {
            Assert.True(c.GetProperty("classified").GetBoolean());
            Assert.Equal(c.GetProperty("sent_packets").GetInt64(), c.GetProperty("htb_packets").GetInt64());
            if (!Lab.InLab) // the lab's emulated CPU cannot keep 20 Mbit/s of 1000-byte datagrams coming: classification only there
            {
                double achieved = c.GetProperty("achieved_bps_qdisc").GetDouble();
                Assert.True(c.GetProperty("rate_ok").GetBoolean(), Failures(json.Path));
                Assert.InRange(achieved, rate * 0.95, rate * 1.05);
            }
        }

        if (!Lab.InLab)
        {
            Assert.True(pass && code == ExitCodes.Ok, "exit " + code + ": " + Failures(json.Path));
        }
        else
        {
            // Under emulation a class may miss its rate, and that alone: any other failing verdict fails the test.
            Assert.True(code == ExitCodes.Ok || OnlyRatesFailed(classes, code), "exit " + code + ": " + Failures(json.Path));
        }
    }

    [Fact]
    public void PrioHolKeepsTheProbesLatencyLowWhileTheBulkClassRunsAtItsRate()
    {
        SkipUnlessLab();
        Assert.SkipWhen(Lab.InLab, "timing-bound: an emulated CPU in the kernel lab (QEMU TCG) cannot hold latencies of milliseconds; this runs on the host");
        using var json = new TempFile(".json");
        int code = RunTimed(["qdisc-test", "--scenario", "prio-hol", "--duration", "4s", "--quiet", "--json", json.Path]);
        Assert.True(code == 0, "exit " + code + ": " + Failures(json.Path));
        JsonElement[] classes = Classes(json.Path, out bool pass);
        Assert.True(pass);
        JsonElement bulk = classes[0], probe = classes[1];
        Assert.True(bulk.GetProperty("rate_ok").GetBoolean());
        Assert.True(probe.GetProperty("latency_ok").GetBoolean());
        // The point of the scenario: the bulk class queues, the probe does not.
        Assert.True(probe.GetProperty("latency_us").GetProperty("p50").GetInt64() * 10 < bulk.GetProperty("latency_us").GetProperty("p50").GetInt64());
    }

    [Trait(Lab.Trait, Lab.EveryKernel)]
    [Fact]
    public void RecverrCountsEachQdiscDropAsEnobufsAtItsSender()
    {
        SkipUnlessLab();
        using var json = new TempFile(".json");
        // A 5-packet queue at 1 Mbit/s fed as fast as the sender can: most datagrams are dropped by the qdisc.
        int code = PerfgenCli.Run(["qdisc-test", "--classes", "1:10=1mbit:limit=5,1:20=10mbit", "--load", "1:10=max,1:20=1k", "--duration", "3s", "--size", "500",
            "--recverr", "--quiet", "--json", json.Path]);
        JsonElement[] classes = Classes(json.Path, out _);
        JsonElement small = classes[0];
        long dropped = small.GetProperty("qdisc_dropped").GetInt64();
        long enobufs = small.GetProperty("enobufs").GetInt64();
        Assert.True(enobufs > 100, "ENOBUFS " + enobufs);
        // Each datagram the sender was told of ended there as failed: the sink misses those (gaps it can see: not the
        // ones after its last arrival) and got every other one, except drops the kernel reported as sent (a few on 7.3,
        // under two senders; none on 6.1 or 6.18): what the sender counted as sent and the class did not pass. The
        // qdisc may count more drops, since sendmmsg loses the ENOBUFS of a message after the first of a call and the
        // sender sends that one again.
        long unreported = small.GetProperty("sent_packets").GetInt64() - small.GetProperty("htb_packets").GetInt64();
        Assert.InRange(unreported, 0, Math.Max(100, enobufs / 100));
        // The sink cannot see the drops after the class's last arrival: about one interval between two datagrams that
        // pass (enobufs / passed drops each; 1,274 here, 290 and 356 of them unseen in two runs), bounded at 8 of them.
        long passed = Math.Max(1, small.GetProperty("htb_packets").GetInt64());
        long unseenTail = (8 * enobufs / passed) + 64;
        Assert.InRange(small.GetProperty("sink_lost").GetInt64(), enobufs - unseenTail, enobufs + unreported);
        Assert.InRange(dropped, enobufs, enobufs * 2);
        Assert.True(small.GetProperty("classified").GetBoolean());
        Assert.Equal(0, classes[1].GetProperty("enobufs").GetInt64());
        // The 10 Mbit class at 1k/s must pass; the flooded class may miss its rate verdict (A1Mbit's), and nothing else.
        Assert.False(classes[1].TryGetProperty("failure", out JsonElement why), "1:20: " + why);
        Assert.True(code == ExitCodes.Ok || OnlyRatesFailed(classes, code), "exit " + code + ": " + Failures(json.Path));
    }

    // Every class that failed failed its rate verdict (and was classified): the one verdict an emulated CPU or a flooded
    // class may miss without the test's point being lost.
    // A run-wide problem (loss at the sink, say) fails no class: then the exit is not explained by a rate.
    private static bool OnlyRatesFailed(JsonElement[] classes, int code) =>
        code == ExitCodes.CheckFailed
        && classes.Any(c => c.TryGetProperty("failure", out _))
        && classes.All(c => c.GetProperty("classified").GetBoolean()
            && (!c.TryGetProperty("failure", out _) || (Is(c, "rate_ok", JsonValueKind.False) && !Is(c, "latency_ok", JsonValueKind.False))));

    private static bool Is(JsonElement c, string name, JsonValueKind kind) => c.TryGetProperty(name, out JsonElement v) && v.ValueKind == kind;

    // taprio (a module: not on this machine, in every kernel the lab boots): three classes, each with its own window of
    // a 100 ms cycle. Every datagram's SND timestamp must fall in its class's window. The windows are long because the
    // lab's emulated CPU stamps a datagram up to 0.6 ms after taprio let it go (seen on 7.3 with a 1 ms cycle); with
    // 30 ms windows a datagram sent in the wrong window is off by milliseconds, and none was late at all.
    [Trait(Lab.Trait, Lab.EveryKernel)]
    [Fact]
    public void TaprioSendsEachClassOnlyInsideItsGateWindow()
    {
        using var json = new TempFile(".json");
        RunModuleQdiscTest("taprio", ["--classes", "1:1,1:2,1:3", "--gates", "30ms,30ms,40ms", "--gate-tolerance", "2ms",
            "--load", "1:1=1k,1:2=1k,1:3=1k", "--duration", "2s", "--size", "200", "--quiet", "--json", json.Path]);
        JsonElement[] classes = Classes(json.Path, out bool pass);
        Assert.True(pass);
        long start = 0;
        foreach ((JsonElement c, long window) in classes.Zip((long[])[30_000, 30_000, 40_000]))
        {
            Assert.True(c.GetProperty("classified").GetBoolean());
            Assert.Equal([start, start + window], c.GetProperty("gate_window_us").EnumerateArray().Select(e => e.GetInt64()));
            Assert.Equal(0, c.GetProperty("outside_gate").GetInt64());
            Assert.Equal(c.GetProperty("sent_packets").GetInt64(), c.GetProperty("qdisc_delay_us").GetProperty("histogram").EnumerateArray().Sum(b => b[2].GetInt64()));
            start += window;
        }
    }

    // perfgen's own signal handling and clean-up, the same on every kernel: the host runs it.
    [Trait(Lab.Trait, Lab.HostOnly)]
    [Theory]
    [InlineData("INT")]
    [InlineData("TERM")]
    public void ASignalEndsTheRunAndLeavesNothingBehind(string signal)
    {
        SkipUnlessLab();
        string perfgen = Path.Combine(AppContext.BaseDirectory, "perfgen");
        Assert.SkipUnless(File.Exists(perfgen), "the perfgen apphost is not next to the tests");
        var psi = new ProcessStartInfo(perfgen, ["qdisc-test", "--classes", "1:10=1mbit", "--load", "1:10=max", "--duration", "60s", "--quiet"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process p = Process.Start(psi)!;
        string prefix = "perfgen-" + p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) + "-";
        long deadline = Environment.TickCount64 + 20_000;
        while (!HostTools.Sh("ip netns list").Contains(prefix, StringComparison.Ordinal) && Environment.TickCount64 < deadline)
        {
            Thread.Sleep(100);
        }

        Assert.Contains(prefix, HostTools.Sh("ip netns list")); // it set up its namespaces...
        Thread.Sleep(1500);
        HostTools.Sh("kill -" + signal + " " + p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(p.WaitForExit(30_000), "perfgen did not end after SIG" + signal);
        Assert.DoesNotContain(prefix, HostTools.Sh("ip netns list")); // ...and removed them
        Assert.DoesNotContain("   at ", p.StandardError.ReadToEnd());
    }

    [Trait(Lab.Trait, Lab.HostOnly)]
    [Theory]
    [InlineData("--classes|1:10=fast")]
    [InlineData("--classes|1:10=1mbit:ceil=500kbit")]
    [InlineData("--classes|1:10=1mbit:quantum=3")]
    [InlineData("--classes|1:10,1:10")]
    [InlineData("--load|1:99=max")]
    [InlineData("--load|1:10=warp")]
    [InlineData("--max-p99|1:99=2ms")]
    [InlineData("--max-p99|1:10=soon")]
    [InlineData("--qdisc|cbq")]
    [InlineData("--qdisc|prio")]
    [InlineData("--scenario|bufferbloat")]
    [InlineData("--scenario|prio-hol|--load|1:10=max")]
    [InlineData("--html|/nonexistent/dir/x.html")]
    public void BadInputIsOneLineExit2AndNothingSetUp(string line)
    {
        string before = HostTools.IsRoot ? HostTools.Sh("ip netns list") : string.Empty;
        TextWriter stderr = Console.Error;
        var captured = new StringWriter();
        Console.SetError(captured);
        int code;
        try
        {
            code = PerfgenCli.Run(["qdisc-test", .. line.Split('|'), "--duration", "1s", "--quiet"]);
        }
        finally
        {
            Console.SetError(stderr);
        }

        Assert.True(code == 2, "exit " + code + ": " + captured);
        Assert.Single(captured.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        if (HostTools.IsRoot)
        {
            Assert.Equal(before, HostTools.Sh("ip netns list"));
        }
    }

    // The page and the browser are the same on every kernel; the lab's kernels are checked by the rate tests above.
    [Trait(Lab.Trait, Lab.HostOnly)]
    [Fact]
    public void TheHtmlReportHasEveryChartWithDataAndTheVerdicts()
    {
        SkipUnlessLab();
        using var html = new TempFile(".html");
        Assert.Equal(0, PerfgenCli.Run(["qdisc-test", "--classes", "1:10=5mbit,1:20=10mbit", "--load", "1:10=max,1:20=500", "--duration", "3s", "--size", "500", "--quiet", "--html", html.Path]));
        string page = File.ReadAllText(html.Path);
        foreach (string chart in (string[])["rate", "latency", "cdf"])
        {
            System.Text.RegularExpressions.Match m = System.Text.RegularExpressions.Regex.Match(page, "<svg class=\"chart\" id=\"" + chart + "\" data-points=\"(\\d+)\"");
            Assert.True(m.Success, "no " + chart + " chart");
            Assert.True(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, chart + " chart is empty");
        }

        Assert.Contains("id=\"verdicts\"", page);
        Assert.Contains("PASS", page);
        Assert.DoesNotContain("http://", page.Replace("http://www.w3.org/2000/svg", string.Empty, StringComparison.Ordinal)); // nothing fetched
        Assert.DoesNotContain("https://", page);

        Assert.Contains("<li>command: <code>perfgen qdisc-test --classes 1:10=5mbit,1:20=10mbit", page); // what ran
        Assert.Contains("htb on ", page);
        Browser.AssertDrawn(html.Path, charts: 3);
    }

    private static void SkipUnlessLab()
    {
        string? why = NetNs.Unavailable();
        Assert.SkipWhen(why is not null, why ?? string.Empty);
    }

    // qdisc-test with a qdisc that is a module, writing its JSON (--json is among args): skips where this kernel has none
    // (this machine loads no modules; the lab's kernels have them), else must pass.
    private static void RunModuleQdiscTest(string qdisc, string[] args)
    {
        SkipUnlessLab();
        int code = RunWithStderr(out string captured, ["qdisc-test", "--qdisc", qdisc, .. args]);
        Assert.SkipWhen(code == 2 && captured.Contains("has no " + qdisc + " qdisc", StringComparison.Ordinal),
            "this kernel (" + Environment.OSVersion.Version + ") has no " + qdisc + " here (sch_" + qdisc + " is a module, and this machine loads none); the kernel lab's kernels have it");
        string json = args[Array.IndexOf(args, "--json") + 1];
        Assert.True(code == 0, "exit " + code + ": " + captured + (File.Exists(json) ? File.ReadAllText(json) : string.Empty));
    }

    // perfgen in-process, with what it wrote to stderr.
    private static int RunWithStderr(out string stderr, string[] args)
    {
        TextWriter saved = Console.Error;
        var captured = new StringWriter();
        Console.SetError(captured);
        try
        {
            return PerfgenCli.Run(args);
        }
        finally
        {
            Console.SetError(saved);
            stderr = captured.ToString();
        }
    }

    // A run whose verdicts are timing (rates, latency), which the host judges: perfgen as its own process, as users run
    // it. In the test host a collection pauses every thread, sender and in-process sink alike, and the heap there holds
    // what earlier tests left; a rate or p99 verdict then fails now and then (once in a CI run, once in 3 runs of this
    // class) where the same run as its own process passed 6 times in 6. In the lab only classification is judged, in
    // process (a second runtime would start slowly under emulation).
    private static int RunTimed(string[] args)
    {
        if (Lab.InLab)
        {
            return PerfgenCli.Run(args);
        }

        string perfgen = Path.Combine(AppContext.BaseDirectory, "perfgen");
        Assert.SkipUnless(File.Exists(perfgen), "the perfgen apphost is not next to the tests");
        (int code, string output) = HostTools.Run(perfgen, args, TimeSpan.FromSeconds(120));
        Assert.True(code is 0 or 1, "perfgen exited " + code + ": " + output);
        return code;
    }

    // What each failing class says, for an assertion's message.
    private static string Failures(string json) =>
        File.Exists(json) ? string.Join("; ", Classes(json, out _).Where(c => c.TryGetProperty("failure", out _)).Select(c => c.GetProperty("class") + ": " + c.GetProperty("failure")))
        : "no report";

    private static JsonElement[] Classes(string json, out bool pass)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        pass = doc.RootElement.GetProperty("pass").GetBoolean();
        return [.. doc.RootElement.GetProperty("classes").EnumerateArray().Select(e => e.Clone())];
    }
}
