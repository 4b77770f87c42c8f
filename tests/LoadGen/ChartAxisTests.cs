using Perf.LoadGen;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.LoadGen;

/// <summary>The HTML report's axes: ticks on round values, log scale where series are far apart.</summary>
[Trait(Lab.Trait, Lab.HostOnly)]
public sealed class ChartAxisTests
{
    [Theory]
    [InlineData(1, 9.09, new double[] { 0, 2, 4, 6, 8, 10 })]     // the time axis that read 1, 3.02, 5.05, 7.07, 9.09
    [InlineData(0, 158, new double[] { 0, 50, 100, 150, 200 })]
    [InlineData(0, 0.37, new double[] { 0, 0.1, 0.2, 0.3, 0.4 })]
    [InlineData(0, 1, new double[] { 0, 0.2, 0.4, 0.6, 0.8, 1 })]
    public void LinearTicksStepBy125(double min, double max, double[] expected)
    {
        ChartAxis a = ChartAxis.Linear(min, max, fromZero: true);
        Assert.Equal(expected, a.Ticks);
        Assert.True(a.Low <= min && a.High >= max);
    }

    [Fact]
    public void LogTicksArePowersOfTenAndTheir2And5Multiples()
    {
        // The CDF axis that read 11, 121, 1.34k.
        Assert.Equal([10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000], ChartAxis.Logarithmic(11, 1340).Ticks);
        Assert.Equal([1, 10, 100, 1000, 10000, 100000, 1000000], ChartAxis.Logarithmic(1, 158_000).Ticks); // many decades: powers only
        Assert.Equal(0.5, ChartAxis.Logarithmic(1, 100).Fraction(10), 9);
    }

    [Fact]
    public void LogScaleOnlyWhenSeriesDifferByMoreThan10x()
    {
        Assert.True(ChartAxis.SpreadOver10x([0.375, 158]));   // the probe's 375 µs under the bulk class's 158 ms
        Assert.False(ChartAxis.SpreadOver10x([3, 20]));
        Assert.False(ChartAxis.SpreadOver10x([0, 5]));
    }
}
