using Perf.LoadGen;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.LoadGen;

/// <summary>The sink's per-flow bookkeeping: loss exact in any order, reordering across priorities told apart from within one.</summary>
[Trait(Lab.Trait, Lab.HostOnly)]
public sealed class SinkFlowTests
{
    [Fact]
    public void GroupedPrioritiesAreReorderedAcrossNotWithin()
    {
        // A flow of priorities 0,1,2 cycling, sent grouped by priority: 0,3,6 then 1,4,7 then 2,5,8.
        var flow = new SinkJob.Flow();
        ulong[] order = [0, 3, 6, 1, 4, 7, 2, 5, 8];
        int across = 0;
        foreach (ulong seq in order)
        {
            SinkJob.Flow.Outcome o = flow.See(seq, (uint)(seq % 3));
            Assert.NotEqual(SinkJob.Flow.Outcome.ReorderedWithinPriority, o);
            across += o == SinkJob.Flow.Outcome.ReorderedAcrossPriorities ? 1 : 0;
        }

        Assert.Equal(4, across); // 1, 4, 2, 5 arrived below the flow's highest
        Assert.Equal(0, flow.Lost);
        Assert.Equal(9, flow.Unique);
    }

    [Fact]
    public void OutOfOrderWithinAPriorityIsAnErrorAndLossStaysExact()
    {
        var flow = new SinkJob.Flow();
        Assert.Equal(SinkJob.Flow.Outcome.InOrder, flow.See(0, 5));
        Assert.Equal(SinkJob.Flow.Outcome.InOrder, flow.See(2, 5));
        Assert.Equal(SinkJob.Flow.Outcome.ReorderedWithinPriority, flow.See(1, 5));
        Assert.Equal(SinkJob.Flow.Outcome.Duplicate, flow.See(1, 5));
        Assert.Equal(SinkJob.Flow.Outcome.InOrder, flow.See(5, 5));
        Assert.Equal(2, flow.Lost); // 3 and 4
    }
}
