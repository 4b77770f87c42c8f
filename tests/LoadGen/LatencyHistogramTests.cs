using Perf.LoadGen;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.LoadGen;

/// <summary>The sink's latency histogram against exact percentiles of known inputs.</summary>
[Trait(Lab.Trait, Lab.HostOnly)]
public sealed class LatencyHistogramTests
{
    [Fact]
    public void BelowTheLinearRangeEveryValueIsExact()
    {
        var h = new LatencyHistogram();
        for (int v = 1; v <= 200; v++)
        {
            h.Record(v);
        }

        Assert.Equal(200, h.Count);
        Assert.Equal(100, h.Percentile(50));
        Assert.Equal(180, h.Percentile(90));
        Assert.Equal(198, h.Percentile(99));
        Assert.Equal(200, h.Percentile(100));
        Assert.Equal(1, h.Percentile(0));
        Assert.Equal(200, h.Max);
        Assert.Equal(1, h.Min);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(42)]
    public void PercentilesOfRandomLatenciesAreWithinOneBucketAboveTheExactValue(int seed)
    {
        var random = new Random(seed);
        var h = new LatencyHistogram();
        var values = new long[100_000];
        for (int i = 0; i < values.Length; i++)
        {
            // Log-uniform from 1 µs to 10 s: every octave of the histogram is used.
            values[i] = (long)Math.Exp(random.NextDouble() * Math.Log(10_000_000));
            h.Record(values[i]);
        }

        Array.Sort(values);
        foreach (double p in (double[])[50, 90, 99, 99.9, 100])
        {
            long exact = values[Math.Max(0, (int)Math.Ceiling(p / 100 * values.Length) - 1)];
            long got = h.Percentile(p);
            Assert.InRange(got, exact, exact + (exact / 128) + 1); // a bucket spans under 1/128 of its value
        }

        Assert.Equal(values[^1], h.Max);
        Assert.Equal(values[^1], h.Percentile(100));
    }

    [Fact]
    public void BucketsTileTheRangeWithoutGapsOrOverlaps()
    {
        for (int i = 0; i < LatencyHistogram.BucketCount - 1; i++)
        {
            Assert.Equal(LatencyHistogram.HighestOf(i) + 1, LatencyHistogram.LowestOf(i + 1));
            Assert.Equal(i, LatencyHistogram.IndexOf(LatencyHistogram.LowestOf(i)));
            Assert.Equal(i, LatencyHistogram.IndexOf(LatencyHistogram.HighestOf(i)));
        }

        Assert.Equal(LatencyHistogram.BucketCount - 1, LatencyHistogram.IndexOf(long.MaxValue)); // beyond 134 s: the top bucket
    }

    [Fact]
    public void TheCdfRisesToOneAndMergingAddsCounts()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        for (int v = 0; v < 1000; v++)
        {
            a.Record(v);
            b.Record(v * 10);
        }

        var total = new LatencyHistogram();
        a.CopyTo(total);
        b.CopyTo(total);
        Assert.Equal(2000, total.Count);
        Assert.Equal(9990, total.Max);
        List<(long Value, double Fraction)> cdf = total.Cdf();
        Assert.Equal(1.0, cdf[^1].Fraction);
        for (int i = 1; i < cdf.Count; i++)
        {
            Assert.True(cdf[i].Value > cdf[i - 1].Value && cdf[i].Fraction > cdf[i - 1].Fraction);
        }

        total.Clear();
        Assert.Equal(0, total.Count);
        Assert.Equal(0, total.Percentile(50));
    }

    [Fact]
    public void RecordingAllocatesNothing()
    {
        var h = new LatencyHistogram();
        Assert.Equal(0, Perf.Tests.Infrastructure.SteadyState.AllocatedBytes(n =>
        {
            for (int i = 0; i < n; i++)
            {
                h.Record(i * 13);
            }
        }));
    }

    [Fact]
    public void TheJsonCarriesEveryBucketSoTwoReportsMergeExactly()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        var both = new LatencyHistogram();
        var random = new Random(7);
        for (int i = 0; i < 5000; i++)
        {
            long v = (long)Math.Exp(random.NextDouble() * 14); // 1 µs to 1.2 s
            (i % 2 == 0 ? a : b).Record(v);
            both.Record(v);
        }

        // Merging the two histograms as a reader of their JSON would (bucket by bucket) gives the run of both.
        var merged = new Dictionary<long, long>();
        foreach (LatencyHistogram h in (LatencyHistogram[])[a, b])
        {
            using var stream = new MemoryStream();
            using (var w = new System.Text.Json.Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                Report.WriteLatency(w, h);
                w.WriteEndObject();
            }

            using var doc = System.Text.Json.JsonDocument.Parse(stream.ToArray());
            foreach (System.Text.Json.JsonElement bucket in doc.RootElement.GetProperty("latency_us").GetProperty("histogram").EnumerateArray())
            {
                long low = bucket[0].GetInt64();
                Assert.Equal(LatencyHistogram.HighestOf(LatencyHistogram.IndexOf(low)), bucket[1].GetInt64());
                merged[low] = merged.GetValueOrDefault(low) + bucket[2].GetInt64();
            }
        }

        Assert.Equal(both.Buckets().Select(x => (LatencyHistogram.LowestOf(x.Index), x.Count)), merged.OrderBy(kv => kv.Key).Select(kv => (kv.Key, kv.Value)));
    }
}
