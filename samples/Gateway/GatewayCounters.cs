namespace Perf.Gateway;

/// <summary>What the gateway did each way: frames and bytes, per priority outward, and drops by reason.</summary>
internal sealed class GatewayCounters
{
    private readonly uint[] _priorities;
    private readonly long[] _outFrames;
    private readonly long[] _outBytes;
    private readonly long[] _inboundDrops = new long[Enum.GetValues<InboundDrop>().Length];

    internal GatewayCounters(uint[] priorities)
    {
        _priorities = priorities;
        _outFrames = new long[priorities.Length];
        _outBytes = new long[priorities.Length];
    }

    /// <summary>Frames read from the TAP and queued to the peer.</summary>
    internal long OutFrames { get; private set; }

    /// <summary>Frames read from the TAP larger than the gateway carries (cut by the read): dropped.</summary>
    internal long OutOversize { get; private set; }

    /// <summary>Super-packets (TSO, USO) read from the TAP and cut into frames; each frame counts in <see cref="OutFrames"/>.</summary>
    internal long OutSuperFrames { get; private set; }

    /// <summary>Frames whose virtio-net header did not fit them (no TCP or UDP where it said): dropped.</summary>
    internal long OutMalformed { get; private set; }

    /// <summary>Frames written to the TAP.</summary>
    internal long InFrames { get; private set; }

    internal long InBytes { get; private set; }

    internal IReadOnlyList<uint> Priorities => _priorities;

    internal long OutFramesOf(int bucket) => Volatile.Read(ref _outFrames[bucket]);

    internal long OutBytesOf(int bucket) => Volatile.Read(ref _outBytes[bucket]);

    internal long Dropped(InboundDrop reason) => Volatile.Read(ref _inboundDrops[(int)reason]);

    /// <summary>The counts of several workers added up, for the report.</summary>
    internal static GatewayCounters Sum(IEnumerable<GatewayCounters> all)
    {
        GatewayCounters? total = null;
        foreach (GatewayCounters c in all)
        {
            total ??= new GatewayCounters(c._priorities);
            total.OutFrames += c.OutFrames;
            total.OutOversize += c.OutOversize;
            total.OutSuperFrames += c.OutSuperFrames;
            total.OutMalformed += c.OutMalformed;
            total.InFrames += c.InFrames;
            total.InBytes += c.InBytes;
            total.InSuperFrames += c.InSuperFrames;
            total.InCoalescedFrames += c.InCoalescedFrames;
            for (int b = 0; b < c._priorities.Length; b++)
            {
                total._outFrames[b] += c.OutFramesOf(b);
                total._outBytes[b] += c.OutBytesOf(b);
            }

            for (int r = 0; r < c._inboundDrops.Length; r++)
            {
                total._inboundDrops[r] += Volatile.Read(ref c._inboundDrops[r]);
            }
        }

        return total ?? throw new ArgumentException("no counters", nameof(all));
    }

    /// <summary>The counter bucket of <paramref name="priority"/> (one of <see cref="Priorities"/>).</summary>
    internal int Bucket(uint priority) => Array.BinarySearch(_priorities, priority);

    internal void Out(int bucket, int bytes)
    {
        OutFrames++;
        _outFrames[bucket]++;
        _outBytes[bucket] += bytes;
    }

    internal void Oversize() => OutOversize++;

    internal void SuperFrame() => OutSuperFrames++;

    internal void Malformed() => OutMalformed++;

    /// <summary>Super-packets written to the TAP, merged from frames of one TCP flow.</summary>
    internal long InSuperFrames { get; private set; }

    /// <summary>Frames that went into <see cref="InSuperFrames"/>.</summary>
    internal long InCoalescedFrames { get; private set; }

    internal void In(int frames, long bytes)
    {
        InFrames += frames;
        InBytes += bytes;
    }

    internal void Coalesced(int frames)
    {
        InSuperFrames++;
        InCoalescedFrames += frames;
    }

    internal void Drop(InboundDrop reason, int frames = 1) => _inboundDrops[(int)reason] += frames;
}
