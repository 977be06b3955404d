mod refusals;
