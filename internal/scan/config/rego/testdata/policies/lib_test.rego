package vigil.k8s_test
this is not even rego
