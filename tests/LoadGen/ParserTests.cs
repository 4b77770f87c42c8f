using Perf.LoadGen;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.LoadGen;

[Trait(Lab.Trait, Lab.HostOnly)]
public sealed class ParserTests
{
    [Theory]
    [InlineData("50000", 50_000, false)]
    [InlineData("50k", 50_000, false)]
    [InlineData("1.5M", 1_500_000, false)]
    [InlineData("100bps", 100, true)]
    [InlineData("10kbps", 10_000, true)]
    [InlineData("2.5Mbps", 2_500_000, true)]
    [InlineData("1Gbps", 1_000_000_000, true)]
    public void Rates(string text, double value, bool bits) => Assert.Equal(new Rate(value, bits), Parsers.ParseRate(text));

    [Theory]
    [InlineData("")]
    [InlineData("fast")]
    [InlineData("-5")]
    [InlineData("0")]
    [InlineData("10Tbps")]
    public void BadRates(string text) => Assert.Throws<FormatException>(() => Parsers.ParseRate(text));

    [Fact]
    public void Durations()
    {
        Assert.Equal(TimeSpan.FromSeconds(10), Parsers.ParseDuration("10s"));
        Assert.Equal(TimeSpan.FromMilliseconds(500), Parsers.ParseDuration("500ms"));
        Assert.Equal(TimeSpan.FromMinutes(2), Parsers.ParseDuration("2m"));
        Assert.Equal(TimeSpan.FromSeconds(3), Parsers.ParseDuration("3"));
        Assert.Throws<FormatException>(() => Parsers.ParseDuration("soon"));
        Assert.Throws<FormatException>(() => Parsers.ParseDuration("0s"));
    }

    [Fact]
    public void Sizes()
    {
        Assert.Equal((64, 64), Parsers.ParseSize("64"));
        Assert.Equal((64, 1400), Parsers.ParseSize("64-1400"));
        Assert.Equal((32, 65507), Parsers.ParseSize("32-65507"));
        Assert.Contains("32 to 65507", Assert.Throws<FormatException>(() => Parsers.ParseSize("31")).Message);
        Assert.Throws<FormatException>(() => Parsers.ParseSize("65508"));
        Assert.Throws<FormatException>(() => Parsers.ParseSize("100-50"));
        Assert.Throws<FormatException>(() => Parsers.ParseSize("big"));
    }

    [Fact]
    public void Priorities()
    {
        Assert.Equal([new WeightedPriority(0, 50), new WeightedPriority(3, 30), new WeightedPriority(6, 20)], Parsers.ParsePriorities("0:50,3:30,6:20"));
        Assert.Equal([new WeightedPriority(0x10010, 1)], Parsers.ParsePriorities("0x10010:1"));
        Assert.Equal([new WeightedPriority(4, 1), new WeightedPriority(5, 1)], Parsers.ParsePriorities("4,5"));
        Assert.Throws<FormatException>(() => Parsers.ParsePriorities("a:1"));
        Assert.Throws<FormatException>(() => Parsers.ParsePriorities("1:0"));
        Assert.Throws<FormatException>(() => Parsers.ParsePriorities("1:2:3"));
        Assert.Throws<FormatException>(() => Parsers.ParsePriorities(","));
    }

    [Fact]
    public void ScheduleInterleavesByWeight()
    {
        uint[] s = SendJob.BuildSchedule(Parsers.ParsePriorities("0:50,3:30,6:20"));
        Assert.Equal(100, s.Length);
        Assert.Equal(50, s.Count(p => p == 0));
        Assert.Equal(30, s.Count(p => p == 3));
        Assert.Equal(20, s.Count(p => p == 6));
        Assert.NotEqual(s[0], s[1]); // interleaved, not in runs
    }

    [Fact]
    public void Classes()
    {
        HtbClass[] c = Parsers.ParseClasses("1:10=10mbit,1:20=50mbit,1:30");
        Assert.Equal(3, c.Length);
        Assert.Equal(0x10010u, c[0].Id);
        Assert.Equal("1:10", c[0].ToString());
        Assert.Equal("10gbit", c[2].Rate);
        Assert.Throws<FormatException>(() => Parsers.ParseClasses("1:10,2:20"));
        Assert.Throws<FormatException>(() => Parsers.ParseClasses("x"));
        Assert.Throws<FormatException>(() => Parsers.ParseClasses("1:10=10mbit;rm"));
    }

    [Fact]
    public void HeaderRoundTrip()
    {
        byte[] b = new byte[40];
        PacketHeader.Write(b, 3, 123456789, 0x10010, 42);
        Assert.Equal("PRF1"u8.ToArray(), b[..4]);
        Assert.True(PacketHeader.TryRead(b, out uint flow, out ulong seq, out uint prio));
        Assert.Equal((3u, 123456789UL, 0x10010u), (flow, seq, prio));
        Assert.Equal(42UL, BitConverter.ToUInt64(b, 24));
        Assert.False(PacketHeader.TryRead(b.AsSpan(0, 31), out _, out _, out _));
        b[0] = 0;
        Assert.False(PacketHeader.TryRead(b, out _, out _, out _));
    }
}
