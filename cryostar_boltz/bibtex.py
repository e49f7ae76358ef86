# -*- coding: utf-8 -*-
"""
@article{Li2024cryostar,
  title = {CryoSTAR: leveraging structural priors and constraints for cryo-EM heterogeneous reconstruction},
  author = {Li, Yilai and Zhou, Yi and Yuan, Jing and Ye, Fei and Gu, Quanquan},
  journal = {Nature Methods},
  volume = {21},
  pages = {2318--2326},
  year = {2024},
  doi = {10.1038/s41592-024-02486-1}
}

@inproceedings{Rolfe2017dvae,
  title = {Discrete Variational Autoencoders},
  author = {Rolfe, Jason Tyler},
  booktitle = {International Conference on Learning Representations},
  year = {2017}
}

@inproceedings{Vahdat2018dvaepp,
  title = {DVAE++: Discrete Variational Autoencoders with Overlapping Transformations},
  author = {Vahdat, Arash and Macready, William G. and Bian, Zhengbing and Khoshaman, Amir and Andriyash, Evgeny},
  booktitle = {Proceedings of the 35th International Conference on Machine Learning},
  pages = {5035--5044},
  year = {2018}
}

@article{Benedetti2016temperature,
  title = {Estimation of effective temperatures in quantum annealers for sampling applications: A case study with possible applications in deep learning},
  author = {Benedetti, Marcello and Realpe-G{\'o}mez, John and Biswas, Rupak and Perdomo-Ortiz, Alejandro},
  journal = {Physical Review A},
  volume = {94},
  pages = {022308},
  year = {2016},
  doi = {10.1103/PhysRevA.94.022308}
}

@inproceedings{Tieleman2008pcd,
  title = {Training restricted Boltzmann machines using approximations to the likelihood gradient},
  author = {Tieleman, Tijmen},
  booktitle = {Proceedings of the 25th International Conference on Machine Learning},
  pages = {1064--1071},
  year = {2008}
}
"""
