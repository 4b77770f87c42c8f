using System.Text.Json;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.LoadGen;

// qdisc-test --qdisc etf: every datagram carries its own launch time (SCM_TXTIME, CLOCK_TAI), and each must leave
// within etf's delta before it, by its SND timestamp, with none dropped for its time. etf is a module: the lab's kernels
// have it, this machine does not.
public sealed partial class QdiscLabTests
{
    // The times are wide for the lab's emulated CPU. On 7.3 with a 2 ms delta and a 5 ms lead, 10% of the datagrams
    // reached etf after their time had passed, 0.5% were dropped as etf's timer fired more than 2 ms late, and one SND
    // stamp came 4.5 ms after etf let its datagram go; with a 40 ms lead 2-4% still came too late, with 100 ms none, and
    // with a 5 ms delta etf's timer once fired too late for one datagram.
    // What is judged stays sharp: each datagram waits in etf until its time less the delta (its qdisc delay is the
    // lead less the delta), and none leaves after its time.
    [Trait(Lab.Trait, Lab.EveryKernel)]
    [Fact]
    public void EtfSendsEveryDatagramWithinDeltaOfItsLaunchTime()
    {
        using var json = new TempFile(".json");
        RunModuleQdiscTest("etf", ["--classes", "1:1,1:2", "--etf-delta", "20ms", "--txtime-lead", "100ms",
            "--gate-tolerance", "10ms", "--load", "1:1=200,1:2=200", "--duration", "2s", "--size", "200", "--quiet", "--json", json.Path]);
        JsonElement[] classes = Classes(json.Path, out bool pass);
        Assert.True(pass);
        foreach (JsonElement c in classes)
        {
            Assert.True(c.GetProperty("classified").GetBoolean());
            Assert.StartsWith("etf's own counters", c.GetProperty("classified_by").GetString());
            Assert.Equal(20_000, c.GetProperty("etf_delta_us").GetInt64());
            Assert.Equal(0, c.GetProperty("outside_txtime_window").GetInt64());
            Assert.Equal(0, c.GetProperty("txtime_dropped").GetInt64());
            Assert.Equal(0, c.GetProperty("enobufs").GetInt64());
            Assert.True(c.GetProperty("txtime_ok").GetBoolean());
            long sent = c.GetProperty("sent_packets").GetInt64();
            Assert.InRange(sent, 200, 800);
            JsonElement delay = c.GetProperty("qdisc_delay_us");
            Assert.Equal(sent, delay.GetProperty("histogram").EnumerateArray().Sum(b => b[2].GetInt64()));
            Assert.InRange(delay.GetProperty("p50").GetInt64(), 70_000, 100_000); // held until its time less the delta: about 80 ms
        }
    }

    // What perfgen refuses before it sets anything up: etf's options without etf, and a lead within the delta.
    [Trait(Lab.Trait, Lab.HostOnly)]
    [Theory]
    [InlineData("--etf-delta", "1ms", "--qdisc etf")]
    [InlineData("--txtime-lead", "1ms", "--qdisc etf")]
    public void EtfOptionsWithoutEtfAreRefused(string option, string value, string expected)
    {
        int code = RunWithStderr(out string captured, ["qdisc-test", "--classes", "1:1", option, value]);
        Assert.Equal(2, code);
        Assert.Contains(expected, captured);
        code = RunWithStderr(out captured, ["qdisc-test", "--qdisc", "etf", "--classes", "1:1", "--etf-delta", "2ms", "--txtime-lead", "1ms"]);
        Assert.Equal(2, code);
        Assert.Contains("must be longer than --etf-delta", captured);
    }
}
