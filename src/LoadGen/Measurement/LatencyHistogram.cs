using System.Numerics;

namespace Perf.LoadGen.Measurement;

/// <summary>
/// A log-linear latency histogram in microseconds, HdrHistogram-style: exact below 256 µs, then 128 buckets per power of
/// two (a bucket spans at most 1/128 of its value, under 0.8%), up to 2^27 µs (134 s); larger values count in the top
/// bucket. Fixed size, so recording allocates nothing. Not thread-safe: one thread records, and readers take
/// <see cref="CopyTo"/> snapshots on that thread.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBucketBits = 8;               // 256 exact values, then halves of 256 per octave
    private const int SubBuckets = 1 << SubBucketBits;
    private const int HalfSubBuckets = SubBuckets / 2;
    private const int MaxBits = 27;                    // 2^27 µs = 134 s
    internal const int BucketCount = SubBuckets + ((MaxBits - SubBucketBits) * HalfSubBuckets);

    private readonly long[] _counts = new long[BucketCount];

    internal long Count { get; private set; }

    internal long Max { get; private set; }

    internal long Min { get; private set; } = long.MaxValue;

    internal void Record(long microseconds)
    {
        long v = microseconds < 0 ? 0 : microseconds;
        _counts[IndexOf(v)]++;
        Count++;
        if (v > Max)
        {
            Max = v;
        }

        if (v < Min)
        {
            Min = v;
        }
    }

    internal void Clear()
    {
        Array.Clear(_counts);
        Count = 0;
        Max = 0;
        Min = long.MaxValue;
    }

    /// <summary>Adds this histogram's counts to <paramref name="into"/>.</summary>
    internal void CopyTo(LatencyHistogram into)
    {
        for (int i = 0; i < BucketCount; i++)
        {
            into._counts[i] += _counts[i];
        }

        into.Count += Count;
        into.Max = Math.Max(into.Max, Max);
        into.Min = Math.Min(into.Min, Min);
    }

    /// <summary>Adds <paramref name="count"/> values to bucket <paramref name="index"/> (a report's histogram read back), the largest being <paramref name="max"/>.</summary>
    internal void AddBucket(int index, long count, long max)
    {
        _counts[index] += count;
        Count += count;
        Max = Math.Max(Max, Math.Min(max, HighestOf(index)));
        Min = Math.Min(Min, LowestOf(index));
    }

    /// <summary>
    /// The value at <paramref name="percentile"/> (0-100): the highest value its bucket holds, so never below the true
    /// percentile and within the bucket's width above it; exact below 256 µs. The maximum is <see cref="Max"/>.
    /// </summary>
    internal long Percentile(double percentile)
    {
        if (Count == 0)
        {
            return 0;
        }

        long rank = Math.Max(1, (long)Math.Ceiling(percentile / 100.0 * Count));
        long seen = 0;
        for (int i = 0; i < BucketCount; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(HighestOf(i), Max);
            }
        }

        return Max;
    }

    /// <summary>The fraction of recorded values at or below each bucket's top, for a CDF: (value µs, fraction) pairs.</summary>
    internal List<(long Value, double Fraction)> Cdf()
    {
        var points = new List<(long, double)>();
        long seen = 0;
        for (int i = 0; i < BucketCount && Count > 0; i++)
        {
            if (_counts[i] == 0)
            {
                continue;
            }

            seen += _counts[i];
            points.Add((Math.Min(HighestOf(i), Max), seen / (double)Count));
        }

        return points;
    }

    /// <summary>The non-empty buckets, in order: (bucket index, count).</summary>
    internal IEnumerable<(int Index, long Count)> Buckets()
    {
        for (int i = 0; i < BucketCount; i++)
        {
            if (_counts[i] != 0)
            {
                yield return (i, _counts[i]);
            }
        }
    }

    internal static int IndexOf(long v)
    {
        if (v < SubBuckets)
        {
            return (int)v;
        }

        int bits = 64 - BitOperations.LeadingZeroCount((ulong)v); // v < 2^bits
        if (bits > MaxBits)
        {
            return BucketCount - 1;
        }

        int shift = bits - SubBucketBits;                          // v >> shift is in [128, 256)
        return SubBuckets + ((shift - 1) * HalfSubBuckets) + (int)((v >> shift) - HalfSubBuckets);
    }

    internal static long LowestOf(int index)
    {
        if (index < SubBuckets)
        {
            return index;
        }

        int shift = ((index - SubBuckets) / HalfSubBuckets) + 1;
        long sub = ((index - SubBuckets) % HalfSubBuckets) + HalfSubBuckets;
        return sub << shift;
    }

    internal static long HighestOf(int index) => index < SubBuckets ? index : LowestOf(index) + (1L << (((index - SubBuckets) / HalfSubBuckets) + 1)) - 1;
}
