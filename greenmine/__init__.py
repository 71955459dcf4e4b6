"""Green-mine compliance: self-reports and their hash chain, evaluation against the policy's
indicators, the registry (名录管理), the provincial scorecard, random inspections (双随机、一公开)
and complaints (申诉回应). Pure modules; ``store`` is the database shell."""
