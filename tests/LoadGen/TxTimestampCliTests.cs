using System.Net.Sockets;
using System.Text.Json;
using Perf.Batch;
using Perf.LoadGen;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.LoadGen;

/// <summary>perfgen --tx-timestamps: every datagram's time in the qdisc, from the kernel's SCHED and SND reports.</summary>
[Collection("Network")]
public sealed class TxTimestampCliTests
{
    // The issue's own run: a class fed twice its rate queues for a second in HTB, one fed a hundredth of its rate
    // passes straight through; and what the sink sees of the saturated class is that queue. The host runs it: in the
    // lab the library's timestamps behind HTB (PriorityQdiscTests) and qdisc-test with them (taprio) run on every kernel.
    [Trait(Lab.Trait, Lab.HostOnly)]
    [Fact]
    public void QdiscTestReportsEachClasssQdiscDelay()
    {
        string? why = NetNs.Unavailable();
        Assert.SkipWhen(why is not null, why ?? string.Empty);
        using var json = new TempFile(".json");
        using var html = new TempFile(".html");
        int code = PerfgenCli.Run(["qdisc-test", "--classes", "1:10=8mbit,1:20=100mbit", "--load", "1:10=16mbit,1:20=1mbit", "--duration", Lab.InLab ? "2s" : "4s", "--size", "1000",
            "--tx-timestamps", "--quiet", "--json", json.Path, "--html", html.Path]);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json.Path));
        JsonElement[] classes = [.. doc.RootElement.GetProperty("classes").EnumerateArray()];
        JsonElement slow = classes[0].GetProperty("qdisc_delay_us"), fast = classes[1].GetProperty("qdisc_delay_us");
        long sent = classes[0].GetProperty("sent_packets").GetInt64();
        Assert.Equal(sent, Count(slow)); // one qdisc delay per datagram that left
        Assert.Equal(classes[1].GetProperty("sent_packets").GetInt64(), Count(fast));
        Assert.Equal(0, classes[0].GetProperty("qdisc_delay_incomplete").GetInt64());
        Assert.True(slow.GetProperty("p50").GetInt64() > 10 * Math.Max(1, fast.GetProperty("p50").GetInt64()), "1:10 " + slow + " against 1:20 " + fast);
        if (!Lab.InLab) // timing: the lab's emulated CPU adds milliseconds everywhere
        {
            Assert.Equal(0, code);
            Assert.True(slow.GetProperty("p50").GetInt64() >= 10_000, "1:10's qdisc delay " + slow);
            Assert.True(fast.GetProperty("p50").GetInt64() < 1_000, "1:20's qdisc delay " + fast);
            long sinkP50 = classes[0].GetProperty("latency_us").GetProperty("p50").GetInt64();
            Assert.InRange(slow.GetProperty("p50").GetInt64(), sinkP50 * 0.8, sinkP50 * 1.2);
        }

        // Per interval too, and charted.
        JsonElement[] intervals = [.. doc.RootElement.GetProperty("send").GetProperty("intervals").EnumerateArray()];
        Assert.Contains(intervals, i => i.GetProperty("per_priority").EnumerateArray().Any(p => p.TryGetProperty("qdisc_delay_us", out _)));
        string page = File.ReadAllText(html.Path);
        foreach (string chart in (string[])["qdisc-delay", "qdisc-cdf"])
        {
            System.Text.RegularExpressions.Match m = System.Text.RegularExpressions.Regex.Match(page, "<svg class=\"chart\" id=\"" + chart + "\" data-points=\"(\\d+)\"");
            Assert.True(m.Success && m.Groups[1].Value != "0", "no data in the " + chart + " chart");
        }

        Assert.Contains("<th>qdisc p50</th>", page);
    }

    // Over lo every datagram passes the (empty) qdisc at once: each gets both reports, whatever the backend (each
    // backend's timestamps are tested on every lab kernel by the sender contract; this is perfgen's report of them,
    // which the host checks).
    [Trait(Lab.Trait, Lab.HostOnly)]
    [Theory]
    [InlineData("sendmmsg", "auto")]
    [InlineData("uring", "auto")]
    [InlineData("sendmmsg", "on")]
    public void SendReportsEveryDatagramsQdiscDelayPerPriority(string backend, string gso)
    {
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork);
        using var json = new TempFile(".json");
        int code = PerfgenCli.Run(["send", "--dest", sink.LocalAddress.ToString(), "--count", "20000", "--priorities", "0,3,6", "--size", "200", "--backend", backend, "--gso", gso,
            "--tx-timestamps", "--quiet", "--json", json.Path]);
        Assert.SkipWhen(code == 2 && backend == "uring", "io_uring unavailable here");
        Assert.Equal(0, code);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json.Path));
        JsonElement send = doc.RootElement.GetProperty("send");
        Assert.Equal(0, send.GetProperty("tx_timestamps").GetProperty("incomplete").GetInt64());
        Assert.Equal(0, send.GetProperty("tx_timestamps").GetProperty("dropped_records").GetInt64());
        long total = 0;
        foreach (JsonElement p in send.GetProperty("per_priority").EnumerateArray())
        {
            JsonElement delay = p.GetProperty("qdisc_delay_us");
            Assert.Equal(p.GetProperty("packets").GetInt64(), Count(delay));
            total += Count(delay);
        }

        Assert.Equal(20000, total);
    }

    // send --txtime-lead: every datagram carries its launch time (over loopback no qdisc holds it; the lab's etf tests
    // judge the times), and none is reported dropped for it. The CLI's wiring: the kernels' part is the library's tests.
    [Trait(Lab.Trait, Lab.HostOnly)]
    [Fact]
    public void SendGivesEveryDatagramItsLaunchTime()
    {
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork);
        using var json = new TempFile(".json");
        int code = PerfgenCli.Run(["send", "--dest", sink.LocalAddress.ToString(), "--count", "3000", "--priorities", "0,3", "--size", "200", "--txtime-lead", "1ms",
            "--tx-timestamps", "--quiet", "--json", json.Path]);
        Assert.Equal(0, code);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json.Path));
        JsonElement send = doc.RootElement.GetProperty("send");
        Assert.Equal(3000, send.GetProperty("packets").GetInt64());
        Assert.Equal(0, send.GetProperty("gso").GetProperty("segmented_datagrams").GetInt64()); // every time differs: no runs
        foreach (JsonElement p in send.GetProperty("per_priority").EnumerateArray())
        {
            Assert.Equal(p.GetProperty("packets").GetInt64(), Count(p.GetProperty("qdisc_delay_us")));
            Assert.Equal(0, p.GetProperty("txtime_dropped").GetInt64());
        }
    }

    private static long Count(JsonElement latency) => latency.GetProperty("histogram").EnumerateArray().Sum(b => b[2].GetInt64());
}
