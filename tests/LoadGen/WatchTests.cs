using System.Text.Json;
using Perf.Batch;
using Perf.LoadGen;
using Perf.LoadGen.Cli;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.LoadGen;

/// <summary>
/// <c>perfgen send --watch</c> against a qdisc a user configured: HTB with three classes on a veth in a namespace, a
/// receiver behind it, perfgen run in that namespace as its own process, and other traffic from another sender into one
/// of perfgen's classes meanwhile. The report must say where each priority landed, count the other traffic as such,
/// and judge --expect right either way.
/// </summary>
// The host and the lab's 6.1 run (the whole suite): rtnetlink's statistics on every kernel are QdiscStatisticsTests'.
public sealed class WatchTests
{
    [Fact]
    public async Task EveryPriorityLandsInItsClassAndOtherTrafficIsReportedAsSuch()
    {
        using VethPair net = ShapedPair();
        using PacketReceiver rx = net.ReceiverInB();
        using var json = new TempFile(".json");
        using var html = new TempFile(".html");
        // perfgen starts slowly under the lab's emulated CPU: the other sender runs for as long as perfgen does.
        Task<(int Code, string Output)> perfgen = Task.Run(() => Perfgen(net, rx.LocalAddress, "0x10010=1:10,0x10020=1:20", json.Path, html.Path), TestContext.Current.CancellationToken);
        long background = SendBackgroundWhile(net, rx.LocalAddress, perfgen);
        (int code, string output) = await perfgen;
        Assert.True(code == ExitCodes.Ok, "exit " + code + ": " + output);

        JsonElement report = JsonDocument.Parse(File.ReadAllText(json.Path)).RootElement;
        JsonElement watch = report.GetProperty("watch");
        Assert.True(watch.GetProperty("expect_pass").GetBoolean());
        Dictionary<long, string> classified = watch.GetProperty("classification").EnumerateArray()
            .ToDictionary(c => c.GetProperty("priority").GetInt64(), c => c.GetProperty("class").GetString()!);
        Assert.Equal("1:10", classified[0x10010]);
        Assert.Equal("1:20", classified[0x10020]);

        Dictionary<string, JsonElement> classes = watch.GetProperty("classes").EnumerateArray().ToDictionary(c => c.GetProperty("class").GetString()!);
        long sent10 = SentBy(report, 0x10010), sent20 = SentBy(report, 0x10020);
        Assert.Equal(sent10, classes["1:10"].GetProperty("perfgen_packets").GetInt64());
        Assert.Equal(sent20, classes["1:20"].GetProperty("perfgen_packets").GetInt64());
        Assert.Equal(sent20, classes["1:20"].GetProperty("packets").GetInt64()); // nothing else went there
        Assert.Equal(0, classes["1:20"].GetProperty("other_packets").GetInt64());
        // The other sender's datagrams in 1:10 are reported as not perfgen's (those it sent within the run's window).
        long other = classes["1:10"].GetProperty("other_packets").GetInt64();
        Assert.InRange(other, 1, background);
        Assert.Equal(sent10 + other, classes["1:10"].GetProperty("packets").GetInt64());
        Assert.True(watch.GetProperty("intervals").GetArrayLength() >= 1);

        // The page draws each watched class's rate over time and lists the classes with perfgen's share.
        string page = File.ReadAllText(html.Path);
        System.Text.RegularExpressions.Match chart = System.Text.RegularExpressions.Regex.Match(page, "id=\"watch-rate\"[^>]*data-points=\"(\\d+)\"");
        Assert.True(chart.Success && int.Parse(chart.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 3, "no watch-rate chart with points");
        Assert.Contains("<table id=\"watch\">", page, StringComparison.Ordinal);
    }

    /// <summary>
    /// The page of a watched run with transmit timestamps, opened in a browser: each watched class's rate, drops and time
    /// in the qdisc over time are drawn, beside the per-priority charts.
    /// </summary>
    // The page and the browser are the same on every kernel.
    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)]
    public void AWatchedRunsPageDrawsEachClasssRateAndQdiscDelayInABrowser()
    {
        using VethPair net = ShapedPair();
        using PacketReceiver rx = net.ReceiverInB();
        using var html = new TempFile(".html");
        (int code, string output) = Perfgen(net, rx.LocalAddress, "0x10010=1:10,0x10020=1:20", path: null, html.Path, "--tx-timestamps");
        Assert.True(code == ExitCodes.Ok, "exit " + code + ": " + output);
        string page = File.ReadAllText(html.Path);
        foreach (string chart in (string[])["watch-rate", "watch-drops", "watch-delay", "qdisc-delay"])
        {
            System.Text.RegularExpressions.Match m = System.Text.RegularExpressions.Regex.Match(page, "id=\"" + chart + "\"[^>]*data-points=\"(\\d+)\"");
            Assert.True(m.Success && int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, "no " + chart + " chart with points");
        }

        Assert.Contains("veth-a 1:10 p99", page, StringComparison.Ordinal); // the delay series are named by class
        Browser.AssertDrawn(html.Path, charts: 6);
    }

    // Kernel-independent, and two perfgen processes cost the lab's emulated CPU half a minute: the host runs it.
    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)]
    public async Task ASinkOnTheFarSideJoinsTheWatchedClassesThroughMerge()
    {
        using VethPair net = ShapedPair();
        using var sinkJson = new TempFile(".json");
        using var sendJson = new TempFile(".json");
        using var merged = new TempFile(".json");
        using var page = new TempFile(".html");
        string perfgen = PerfgenPath();
        Task<(int Code, string Output)> sink = Task.Run(() => HostTools.Run("ip", ["netns", "exec", net.B.Name, perfgen, "sink", "--listen", "198.18.0.2:9000", "--idle", "3s", "--verify", "none", "--quiet", "--json", sinkJson.Path], TimeSpan.FromSeconds(120)),
            TestContext.Current.CancellationToken);
        Thread.Sleep(1000); // the sink is listening before the first datagram (a veth resets priorities: --verify none)
        (int code, string output) = Perfgen(net, new DatagramAddress(VethPair.AddressB, 9000), "0x10010=1:10,0x10020=1:20", sendJson.Path);
        Assert.True(code == ExitCodes.Ok, "send: exit " + code + ": " + output);
        (int sinkCode, string sinkOutput) = await sink;
        Assert.True(sinkCode == ExitCodes.Ok, "sink: exit " + sinkCode + ": " + sinkOutput);

        Assert.Equal(ExitCodes.Ok, PerfgenCli.Run(["merge", sendJson.Path, sinkJson.Path, "--json", merged.Path, "--html", page.Path, "--quiet"]));
        JsonElement report = JsonDocument.Parse(File.ReadAllText(merged.Path)).RootElement;
        Assert.True(report.TryGetProperty("watch", out _) && report.TryGetProperty("sink", out _), "the merge keeps the watch and the sink");
        long received10 = report.GetProperty("sink").GetProperty("per_priority").EnumerateArray()
            .Single(p => p.GetProperty("priority").GetInt64() == 0x10010).GetProperty("packets").GetInt64();
        Assert.Equal(SentBy(report, 0x10010) + 100, received10); // the run's datagrams and the probe's, none lost on the veth
        string html = File.ReadAllText(page.Path);
        Assert.Contains("<th>delivered (sink, with the probe)</th>", html, StringComparison.Ordinal);
        Assert.Contains("<td>veth-a 1:10</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td>" + received10.ToString("N0", System.Globalization.CultureInfo.InvariantCulture) + "</td>", html, StringComparison.Ordinal);
    }

    /// <summary>
    /// A router's view: <c>perfgen watch</c> reads the device where the qdisc is while another perfgen sends through
    /// it, sending nothing itself; <c>perfgen merge</c> of the two reports fills in perfgen's share of each class by
    /// --expect and judges it: right as configured, and exit 1 once the expectation is wrong.
    /// </summary>
    // Kernel-independent (the statistics on every kernel are QdiscStatisticsTests'), and two perfgen processes cost the
    // lab's emulated CPU half a minute: the host runs it.
    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)]
    public async Task AWatchWhereTheQdiscIsJoinsTheSendersReportThroughMerge()
    {
        using VethPair net = ShapedPair();
        using PacketReceiver rx = net.ReceiverInB();
        using var watchJson = new TempFile(".json");
        using var sendJson = new TempFile(".json");
        using var merged = new TempFile(".json");
        using var watchPage = new TempFile(".html");
        using var mergedPage = new TempFile(".html");
        string perfgen = PerfgenPath();
        Task<(int Code, string Output)> watching = Task.Run(() => HostTools.Run("ip", ["netns", "exec", net.A.Name, perfgen, "watch", VethPair.DeviceA,
            "--duration", "5s", "--interval", "250ms", "--expect", "0x10010=1:10,0x10020=1:20", "--quiet", "--json", watchJson.Path, "--html", watchPage.Path], TimeSpan.FromSeconds(120)),
            TestContext.Current.CancellationToken);
        Thread.Sleep(1500); // the watch has taken its first reading
        (int code, string output) = HostTools.Run("ip", ["netns", "exec", net.A.Name, perfgen, "send", "--dest", rx.LocalAddress.ToString(), "--priorities", "0x10010,0x10020",
            "--rate", "5k", "--duration", "1s", "--quiet", "--json", sendJson.Path], TimeSpan.FromSeconds(120));
        Assert.True(code == ExitCodes.Ok, "send: exit " + code + ": " + output);
        (int watchCode, string watchOutput) = await watching;
        Assert.True(watchCode == ExitCodes.Ok, "watch: exit " + watchCode + ": " + watchOutput);

        Assert.Contains("id=\"watch-rate\"", File.ReadAllText(watchPage.Path), StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Ok, PerfgenCli.Run(["merge", sendJson.Path, watchJson.Path, "--json", merged.Path, "--html", mergedPage.Path, "--quiet"]));
        Assert.Contains("<table id=\"watch\">", File.ReadAllText(mergedPage.Path), StringComparison.Ordinal);
        JsonElement report = JsonDocument.Parse(File.ReadAllText(merged.Path)).RootElement;
        JsonElement watch = report.GetProperty("watch");
        Assert.True(watch.GetProperty("expect_pass").GetBoolean());
        Dictionary<string, JsonElement> classes = watch.GetProperty("classes").EnumerateArray().ToDictionary(c => c.GetProperty("class").GetString()!);
        Assert.Equal(SentBy(report, 0x10010), classes["1:10"].GetProperty("perfgen_packets").GetInt64());
        Assert.Equal(SentBy(report, 0x10020), classes["1:20"].GetProperty("perfgen_packets").GetInt64());
        Assert.Equal(SentBy(report, 0x10020), classes["1:20"].GetProperty("packets").GetInt64()); // nothing else went there
        Assert.True(watch.GetProperty("intervals").GetArrayLength() >= 4);

        // The same readings with a wrong expectation: 1:20 counted fewer than both priorities sent to it.
        System.Text.Json.Nodes.JsonNode node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(watchJson.Path))!;
        foreach (System.Text.Json.Nodes.JsonNode? e in node["watch"]!["expect"]!.AsArray())
        {
            e!["class"] = "1:20";
        }

        File.WriteAllText(watchJson.Path, node.ToJsonString());
        Assert.Equal(ExitCodes.CheckFailed, PerfgenCli.Run(["merge", sendJson.Path, watchJson.Path, "--json", merged.Path, "--quiet"]));
        Assert.Contains("class 1:20 counted", File.ReadAllText(merged.Path), StringComparison.Ordinal);
    }

    [Fact]
    public void AWatchOfADeviceThatIsNotThereIsOneLineAndExit2()
    {
        (int code, string output) = HostTools.Run(PerfgenPath(), ["watch", "veth-zz9", "--duration", "1s"], TimeSpan.FromSeconds(60));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Equal("perfgen: watch veth-zz9: there is no such device in this network namespace; nothing was sent", output.Trim());
    }

    [Fact]
    public void AWrongExpectationFailsWithTheClassEachPriorityReached()
    {
        using VethPair net = ShapedPair();
        using PacketReceiver rx = net.ReceiverInB();
        (int code, string output) = Perfgen(net, rx.LocalAddress, "0x10010=1:20,0x10020=1:20", path: null);
        Assert.True(code == ExitCodes.CheckFailed, "exit " + code + ": " + output);
        Assert.Contains("priority 0x10010 (1:10) landed in veth-a class 1:10; --expect says 1:20", output, StringComparison.Ordinal);
        Assert.DoesNotContain("0x10020 (1:20) landed", output, StringComparison.Ordinal);
    }

    [Fact]
    public void ADeviceThatIsNotThereIsOneLineAndExit2BeforeAnyDatagram()
    {
        using VethPair net = ShapedPair();
        string perfgen = PerfgenPath();
        (int code, string output) = HostTools.Run("ip", ["netns", "exec", net.A.Name, perfgen, "send", "--dest", "198.18.0.2:9", "--duration", "1s", "--watch", "veth-zz"], TimeSpan.FromSeconds(60));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Equal("perfgen: --watch veth-zz: there is no such device in this network namespace; nothing was sent", output.Trim());
        Assert.All(TcText.Parse(net.A.Exec("tc -s class show dev " + VethPair.DeviceA)).Values, c => Assert.Equal(0, c.Packets));
    }

    private static VethPair ShapedPair()
    {
        VethPair net = VethPair.Create("watch", quiet: true);
        try
        {
            net.A.Exec("tc qdisc add dev " + VethPair.DeviceA + " root handle 1: htb default 30");
            foreach (string c in (string[])["10", "20", "30"])
            {
                net.A.Exec("tc class add dev " + VethPair.DeviceA + " parent 1: classid 1:" + c + " htb rate 200mbit");
            }

            return net;
        }
        catch
        {
            net.Dispose();
            throw;
        }
    }

    private static (int Code, string Output) Perfgen(VethPair net, DatagramAddress sink, string expect, string? path, string? html = null, params string[] extra)
    {
        List<string> args = ["netns", "exec", net.A.Name, PerfgenPath(), "send", "--dest", sink.ToString(), "--priorities", "0x10010,0x10020",
            "--rate", "5k", "--duration", Lab.InLab ? "2s" : "1s", "--interval", "250ms", "--watch", VethPair.DeviceA, "--expect", expect, "--quiet"];
        if (path is not null)
        {
            args.AddRange(["--json", path]);
        }

        if (html is not null)
        {
            args.AddRange(["--html", html]);
        }

        args.AddRange(extra);

        return HostTools.Run("ip", args, TimeSpan.FromSeconds(120));
    }

    // Another application's datagrams into class 1:10, 50 every 20 ms until perfgen is done (2 minutes at most).
    private static long SendBackgroundWhile(VethPair net, DatagramAddress sink, Task running)
    {
        using PacketSender tx = net.A.Run(() => PacketSender.Create(new PacketSenderOptions { ConnectTo = sink, PriorityStrategy = PriorityStrategy.SetsockoptPerRun }));
        byte[] payload = new byte[100];
        long deadline = Environment.TickCount64 + 120_000;
        while (!running.IsCompleted && Environment.TickCount64 < deadline)
        {
            for (int i = 0; i < 50; i++)
            {
                tx.TryEnqueue(payload, 0x10010u);
            }

            tx.Flush();
            Thread.Sleep(20);
        }

        return tx.Stats.Sent;
    }

    private static long SentBy(JsonElement report, long priority) => report.GetProperty("send").GetProperty("per_priority").EnumerateArray()
        .Single(p => p.GetProperty("priority").GetInt64() == priority).GetProperty("packets").GetInt64();

    private static string PerfgenPath()
    {
        string perfgen = Path.Combine(AppContext.BaseDirectory, "perfgen");
        Assert.SkipUnless(File.Exists(perfgen), "the perfgen apphost is not next to the tests");
        return perfgen;
    }
}
