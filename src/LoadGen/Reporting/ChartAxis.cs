namespace Perf.LoadGen.Reporting;

/// <summary>
/// One chart axis: its range and ticks on round values. Linear axes step by 1, 2 or 5 times a power of ten; log axes
/// tick at powers of ten, and at 2 and 5 times them where the range spans few decades.
/// </summary>
internal readonly record struct ChartAxis(double Low, double High, double[] Ticks, bool Log)
{
    /// <summary>A linear axis over [<paramref name="min"/>, <paramref name="max"/>] with about five ticks; from 0 when <paramref name="fromZero"/>.</summary>
    internal static ChartAxis Linear(double min, double max, bool fromZero)
    {
        if (fromZero)
        {
            min = Math.Min(0, min);
        }

        if (!(max > min))
        {
            max = min + 1;
        }

        double step = NiceStep((max - min) / 5);
        double low = Math.Floor(min / step) * step, high = Math.Ceiling(max / step) * step;
        var ticks = new List<double>();
        for (int i = 0; low + (i * step) <= high + (step / 1e6); i++)
        {
            ticks.Add(Math.Round(low + (i * step), 12));
        }

        return new ChartAxis(low, high, [.. ticks], Log: false);
    }

    /// <summary>A log axis over positive [<paramref name="min"/>, <paramref name="max"/>], from one power of ten to another.</summary>
    internal static ChartAxis Logarithmic(double min, double max)
    {
        min = Math.Max(min, 1e-9);
        max = Math.Max(max, min);
        double low = Math.Pow(10, Math.Floor(Math.Log10(min))), high = Math.Pow(10, Math.Ceiling(Math.Log10(max)));
        if (high <= low)
        {
            high = low * 10;
        }

        bool fine = high / low <= 1000; // three decades or fewer: 1, 2, 5 in each
        var ticks = new List<double>();
        for (double d = low; d <= high * 1.0001; d *= 10)
        {
            ticks.Add(d);
            if (fine && d * 10 <= high * 1.0001)
            {
                ticks.Add(d * 2);
                ticks.Add(d * 5);
            }
        }

        return new ChartAxis(low, high, [.. ticks], Log: true);
    }

    /// <summary>Where <paramref name="v"/> falls on the axis, 0 at Low and 1 at High.</summary>
    internal double Fraction(double v) => Log
        ? (Math.Log10(Math.Max(v, Low)) - Math.Log10(Low)) / (Math.Log10(High) - Math.Log10(Low))
        : (v - Low) / (High - Low);

    /// <summary>Whether series whose largest values are <paramref name="maxima"/> are better read on a log scale: more than 10x apart.</summary>
    internal static bool SpreadOver10x(IEnumerable<double> maxima)
    {
        double lo = double.MaxValue, hi = 0;
        foreach (double m in maxima)
        {
            if (m > 0)
            {
                lo = Math.Min(lo, m);
                hi = Math.Max(hi, m);
            }
        }

        return hi > 0 && hi / lo > 10;
    }

    // 1, 2 or 5 times a power of ten, at or above v.
    private static double NiceStep(double v)
    {
        double power = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (double m in (double[])[1, 2, 5])
        {
            if (m * power >= v * 0.999)
            {
                return m * power;
            }
        }

        return 10 * power;
    }
}
